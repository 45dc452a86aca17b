// Tessera's only script: marks the page as scripted for the NHS.UK frontend, and runs WebAuthn
// (passkey) ceremonies. Served from our origin; the CSP allows no inline script.
'use strict';

document.documentElement.classList.add('js-enabled');

const b64uToBuf = (s) =>
  Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4)), (c) => c.charCodeAt(0)).buffer;
const bufToB64u = (b) =>
  btoa(String.fromCharCode(...new Uint8Array(b))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

function csrf() {
  const m = document.querySelector('meta[name="csrf-token"]');
  return m ? m.getAttribute('content') : '';
}

async function postJSON(url, body) {
  const r = await fetch(url, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf() },
    body: JSON.stringify(body === undefined ? {} : body),
  });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(data.error || 'Something went wrong. Try again.');
  return data;
}

function showError(message) {
  const el = document.getElementById('passkey-error');
  if (el) {
    el.textContent = message;
    el.classList.remove('tessera-hidden');
  }
}

function encodeAssertion(a) {
  const r = a.response;
  return {
    id: a.id, rawId: bufToB64u(a.rawId), type: a.type,
    response: {
      authenticatorData: bufToB64u(r.authenticatorData),
      clientDataJSON: bufToB64u(r.clientDataJSON),
      signature: bufToB64u(r.signature),
      userHandle: r.userHandle ? bufToB64u(r.userHandle) : null,
    },
    extensions: {},
  };
}

function decodeRequest(pk) {
  pk.challenge = b64uToBuf(pk.challenge);
  (pk.allowCredentials || []).forEach((c) => { c.id = b64uToBuf(c.id); });
  return pk;
}

async function registerPasskey() {
  const options = await postJSON('/account/security/passkey/start');
  const pk = options.publicKey;
  pk.challenge = b64uToBuf(pk.challenge);
  pk.user.id = b64uToBuf(pk.user.id);
  (pk.excludeCredentials || []).forEach((c) => { c.id = b64uToBuf(c.id); });
  const cred = await navigator.credentials.create({ publicKey: pk });
  const label = (document.getElementById('passkey-label') || {}).value || '';
  const done = await postJSON('/account/security/passkey/finish', {
    label,
    credential: {
      id: cred.id, rawId: bufToB64u(cred.rawId), type: cred.type,
      response: {
        attestationObject: bufToB64u(cred.response.attestationObject),
        clientDataJSON: bufToB64u(cred.response.clientDataJSON),
      },
      extensions: {},
    },
  });
  window.location.assign(done.redirect);
}

async function passkeySignIn() {
  const start = await postJSON('/sign-in/passkey/start');
  const a = await navigator.credentials.get({ publicKey: decodeRequest(start.options.publicKey) });
  const done = await postJSON('/sign-in/passkey/finish', { ceremony: start.ceremony, credential: encodeAssertion(a) });
  window.location.assign(done.redirect);
}

async function passkeyVerify(base, next) {
  const options = await postJSON(base + '/start');
  const a = await navigator.credentials.get({ publicKey: decodeRequest(options.publicKey) });
  const done = await postJSON(base + '/finish', { next, credential: encodeAssertion(a) });
  window.location.assign(done.redirect);
}

function wire(selector, action) {
  document.querySelectorAll(selector).forEach((button) => {
    button.addEventListener('click', () => {
      if (!window.PublicKeyCredential) {
        showError('This browser cannot use passkeys.');
        return;
      }
      button.disabled = true;
      action(button).catch((e) => showError(e.message || String(e))).finally(() => { button.disabled = false; });
    });
  });
}

document.addEventListener('DOMContentLoaded', () => {
  wire('[data-passkey-register]', () => registerPasskey());
  wire('[data-passkey-sign-in]', () => passkeySignIn());
  wire('[data-passkey-verify]', (b) => passkeyVerify(b.getAttribute('data-passkey-verify'), b.getAttribute('data-next') || '/'));
});
