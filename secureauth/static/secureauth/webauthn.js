/**
 * WebAuthn helpers for SecureAuth's passkey endpoints.
 *
 * The API answers creation and request options as JSON with base64url strings where
 * the browser wants ArrayBuffers (challenge, user.id, credential ids), and takes the
 * browser's credential back as JSON with base64url strings. These functions convert
 * both ways; they do what PublicKeyCredential.parseCreationOptionsFromJSON() and
 * credential.toJSON() do in browsers that have them.
 */

/** A base64url string (padding optional) as an ArrayBuffer. */
export function base64urlToBuffer(value) {
  const base64 = String(value).replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
  const binary = atob(padded);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes.buffer;
}

/** An ArrayBuffer (or typed array) as a base64url string without padding. */
export function bufferToBase64url(buffer) {
  const bytes = buffer instanceof ArrayBuffer ? new Uint8Array(buffer) : new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 1) binary += String.fromCharCode(bytes[i]);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function descriptorFromJSON(descriptor) {
  return { ...descriptor, id: base64urlToBuffer(descriptor.id) };
}

/** The options of ``passkeys/register/begin/`` ready for navigator.credentials.create(). */
export function creationOptionsFromJSON(options) {
  return {
    ...options,
    challenge: base64urlToBuffer(options.challenge),
    user: { ...options.user, id: base64urlToBuffer(options.user.id) },
    excludeCredentials: (options.excludeCredentials || []).map(descriptorFromJSON),
  };
}

/** The ``options`` of ``passkeys/login/begin/`` ready for navigator.credentials.get(). */
export function requestOptionsFromJSON(options) {
  return {
    ...options,
    challenge: base64urlToBuffer(options.challenge),
    allowCredentials: (options.allowCredentials || []).map(descriptorFromJSON),
  };
}

/** A PublicKeyCredential (from create() or get()) as the JSON the API takes. */
export function credentialToJSON(credential) {
  const response = credential.response;
  const json = {
    id: credential.id,
    rawId: bufferToBase64url(credential.rawId),
    type: credential.type,
    clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
    response: { clientDataJSON: bufferToBase64url(response.clientDataJSON) },
  };
  if (credential.authenticatorAttachment) json.authenticatorAttachment = credential.authenticatorAttachment;
  if (response.attestationObject) {
    json.response.attestationObject = bufferToBase64url(response.attestationObject);
    json.response.transports = response.getTransports ? response.getTransports() : [];
  } else {
    json.response.authenticatorData = bufferToBase64url(response.authenticatorData);
    json.response.signature = bufferToBase64url(response.signature);
    json.response.userHandle = response.userHandle ? bufferToBase64url(response.userHandle) : null;
  }
  return json;
}

/** Whether this browser can create and use passkeys at all. */
export function passkeysSupported() {
  return typeof window !== "undefined" && "PublicKeyCredential" in window && !!navigator.credentials;
}
