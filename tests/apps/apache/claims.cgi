#!/bin/sh
# What mod_auth_openidc tells the app about the person: REMOTE_USER and the claims.
printf 'Content-Type: text/plain\r\n\r\n'
printf 'REMOTE_USER=%s\n' "$REMOTE_USER"
env | grep '^OIDC_CLAIM_' | sort
