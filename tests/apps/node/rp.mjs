// A Node web app signing people in through piauth with openid-client at its defaults, as
// the many Node apps built on it do: `node rp.mjs 5|6`.
//
// Configured only by what every deployment sets (env): PIAUTH_ISSUER, CLIENT_ID,
// CLIENT_SECRET, PORT, and NODE_EXTRA_CA_CERTS naming the certificate from GET /certificate.
// GET /login redirects to piauth; GET /cb finishes the sign-in and answers JSON: the ID
// token's header and claims as the library validated them, and /userinfo's answer. A
// failure is a 502 with the library's message, so a test can show what went wrong.
import http from "node:http";
import { createRequire } from "node:module";
import { randomBytes } from "node:crypto";

const { PIAUTH_ISSUER, CLIENT_ID, CLIENT_SECRET, PORT } = process.env;
const SCOPE = "openid profile email groups";
const redirectUri = `http://127.0.0.1:${PORT}/cb`;
// One pending sign-in per browser, keyed by a cookie as a session store would.
const pending = new Map();

// openid-client 5: CommonJS, ID tokens expected RS256 unless the client registered another
// alg; a nonce, no PKCE unless asked.
async function v5() {
  const { Issuer, generators } = createRequire(import.meta.url)("openid-client-5");
  const issuer = await Issuer.discover(PIAUTH_ISSUER);
  const client = new issuer.Client({
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    redirect_uris: [redirectUri],
    response_types: ["code"],
  });
  return {
    start() {
      const check = { state: generators.state(), nonce: generators.nonce() };
      return [check, client.authorizationUrl({ scope: SCOPE, ...check })];
    },
    async finish(req, check) {
      const tokens = await client.callback(redirectUri, client.callbackParams(req), check);
      return { tokens, claims: tokens.claims(), userinfo: await client.userinfo(tokens) };
    },
  };
}

// openid-client 6: ESM over fetch, PKCE S256 and state as its documentation has it.
async function v6() {
  const oidc = await import("openid-client-6");
  const config = await oidc.discovery(new URL(PIAUTH_ISSUER), CLIENT_ID, CLIENT_SECRET);
  return {
    async start() {
      const check = { state: oidc.randomState(), verifier: oidc.randomPKCECodeVerifier() };
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        scope: SCOPE,
        state: check.state,
        code_challenge: await oidc.calculatePKCECodeChallenge(check.verifier),
        code_challenge_method: "S256",
      });
      return [check, url.href];
    },
    async finish(req, check) {
      const tokens = await oidc.authorizationCodeGrant(
        config,
        new URL(req.url, `http://127.0.0.1:${PORT}`),
        { pkceCodeVerifier: check.verifier, expectedState: check.state },
      );
      const claims = tokens.claims();
      const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
      return { tokens, claims, userinfo };
    },
  };
}

function header(jwt) {
  return JSON.parse(Buffer.from(jwt.split(".")[0], "base64url").toString());
}

function cookie(req) {
  const m = /(?:^|;\s*)rp=([A-Za-z0-9_-]+)/.exec(req.headers.cookie || "");
  return m && m[1];
}

function send(res, status, body, headers = {}) {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

const rp = await (process.argv[2] === "5" ? v5() : v6());
http
  .createServer(async (req, res) => {
    try {
      const path = new URL(req.url, "http://x").pathname;
      if (path === "/login") {
        const [check, url] = await rp.start();
        const id = randomBytes(16).toString("base64url");
        pending.set(id, check);
        res.writeHead(302, { location: url, "set-cookie": `rp=${id}; HttpOnly; Path=/` });
        res.end();
      } else if (path === "/cb") {
        const check = pending.get(cookie(req));
        if (!check) return send(res, 400, { error: "no sign-in pending" });
        pending.delete(cookie(req));
        const { tokens, claims, userinfo } = await rp.finish(req, check);
        send(res, 200, { header: header(tokens.id_token), claims, userinfo });
      } else {
        send(res, 404, { error: "not found" });
      }
    } catch (e) {
      // 5 puts the OAuth error in .error; 6 in .error beside its own .code.
      send(res, 502, { message: String(e && e.message), code: e && e.code, error: e && e.error });
    }
  })
  .listen(Number(PORT), "127.0.0.1");
