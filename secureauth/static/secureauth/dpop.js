/**
 * DPoP proofs (RFC 9449) signed in the browser with a non-extractable WebCrypto key.
 *
 * The key pair (ECDSA P-256, ES256) is made with `extractable: false`: no script can
 * read the private key, not even this one; it can only sign. It is kept in IndexedDB
 * (a CryptoKey is stored as an opaque object), so every tab of the origin and every
 * reload signs with the same key, the one the session's refresh token is bound to.
 * It is created once, under a Web Lock, so two tabs opening at once agree on it.
 */

const DB_NAME = "secureauth";
const STORE = "keys";

function base64url(bytes) {
  let binary = "";
  for (const byte of new Uint8Array(bytes)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function encodeJSON(value) {
  return base64url(new TextEncoder().encode(JSON.stringify(value)));
}

function request(idbRequest) {
  return new Promise((resolve, reject) => {
    idbRequest.onsuccess = () => resolve(idbRequest.result);
    idbRequest.onerror = () => reject(idbRequest.error);
  });
}

async function openStore() {
  const open = indexedDB.open(DB_NAME, 1);
  open.onupgradeneeded = () => open.result.createObjectStore(STORE);
  return request(open);
}

async function loadOrCreate(name) {
  const db = await openStore();
  try {
    const found = await request(db.transaction(STORE).objectStore(STORE).get(name));
    if (found) return found;
    const keys = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
    await request(db.transaction(STORE, "readwrite").objectStore(STORE).put(keys, name));
    return keys;
  } finally {
    db.close();
  }
}

/** The URL a proof names (`htu`): without query and fragment (RFC 9449 §4.2). */
export function proofUrl(url) {
  const parsed = new URL(url, location.href);
  return `${parsed.origin}${parsed.pathname}`;
}

export class DPoPSigner {
  #keys;
  #jwk;

  constructor(keys, jwk) {
    this.#keys = keys;
    this.#jwk = jwk;
  }

  /** The origin's one signing key (made on first use). */
  static async open(name = "dpop") {
    const load = () => loadOrCreate(name);
    const keys = navigator.locks ? await navigator.locks.request(`secureauth:${name}-key`, load) : await load();
    const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", keys.publicKey);
    return new DPoPSigner(keys, { kty, crv, x, y });
  }

  /** Whether a script could read the private key (never: made non-extractable). */
  get extractable() {
    return this.#keys.privateKey.extractable;
  }

  /**
   * A proof for one request: `method` and `url` of the request; `accessToken` for a
   * call that sends one (its hash is the `ath` claim); `nonce` if the server asked for one.
   */
  async proof(method, url, { accessToken = null, nonce = null } = {}) {
    const header = { typ: "dpop+jwt", alg: "ES256", jwk: this.#jwk };
    const claims = { jti: crypto.randomUUID(), htm: method.toUpperCase(), htu: proofUrl(url), iat: Math.floor(Date.now() / 1000) };
    if (accessToken) {
      claims.ath = base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(accessToken)));
    }
    if (nonce) claims.nonce = nonce;
    const input = `${encodeJSON(header)}.${encodeJSON(claims)}`;
    // WebCrypto's ECDSA signature is r || s, the form JWS ES256 uses.
    const signature = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, this.#keys.privateKey, new TextEncoder().encode(input));
    return `${input}.${base64url(signature)}`;
  }
}
