"""The app's pages: allauth's under accounts/, and /me, which shows who signed in."""

from django.http import JsonResponse
from django.urls import include, path


def me(request):
    """Who is signed in, as the app knows it: the user, allauth's record of the email (and
    whether it counts it verified), and what the provider gave it."""
    from allauth.account.models import EmailAddress
    from allauth.socialaccount.models import SocialAccount

    user = request.user
    if not user.is_authenticated:
        return JsonResponse({"signed_in": False}, status=401)
    social = SocialAccount.objects.get(user=user)
    return JsonResponse({
        "signed_in": True,
        "username": user.username,
        "emails": [{"email": e.email, "verified": e.verified}
                   for e in EmailAddress.objects.filter(user=user)],
        "uid": social.uid,
        "extra_data": social.extra_data,
    })


urlpatterns = [path("accounts/", include("allauth.urls")), path("me", me)]
