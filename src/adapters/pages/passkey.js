// piauth's one script: passkeys (WebAuthn). Every page works without it; it only shows
// the passkey forms where this browser can use them, and runs their ceremony: it asks
// piauth for the options, hands them to the browser, and posts the answer in the form.
(function () {
  "use strict";
  var forms = document.querySelectorAll("form[data-passkey]");
  if (!forms.length) return;
  var able = window.isSecureContext && window.PublicKeyCredential &&
    typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function";
  var why = document.getElementById("passkey-unavailable");
  if (!able) {
    if (why) why.hidden = false;
    return;
  }
  Array.prototype.forEach.call(forms, function (form) {
    form.hidden = false;
    var alert = form.querySelector("[data-passkey-error]");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var kind = form.getAttribute("data-passkey");
      var body = new URLSearchParams();
      body.set("csrf", form.elements.csrf.value);
      body.set("kind", kind);
      fetch("/passkey/options", { method: "POST", body: body, credentials: "same-origin" })
        .then(function (r) {
          return r.json().then(function (j) {
            if (!r.ok) throw new Error(j.error || "the server refused");
            return j.publicKey || j;
          });
        })
        .then(function (options) {
          return kind === "register"
            ? navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options) })
            : navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options) });
        })
        .then(function (credential) {
          form.elements.credential.value = JSON.stringify(credential.toJSON());
          form.submit();
        })
        .catch(function (e) {
          if (alert) {
            alert.textContent = "The passkey was not used: " + (e && e.message ? e.message : e);
            alert.hidden = false;
          }
        });
    });
  });
})();
