// The verified mark: every live event's Ed25519 signature (docs/signatures.md), checked in the
// browser with WebCrypto against the keys the hub publishes at /.well-known/tryvoha-keys.
//
// A pass means: the signature is the hub's over the signed bytes, and the event shown says exactly
// what those bytes say (id, kind, alert, region, threat, status). The mark shows the state of the
// last live event; events caught up from the log carry no signature and leave it as it was.

const KEYS_URL = "/.well-known/tryvoha-keys";
const TEXT = {
  uk: {
    verified: "✓ Підпис хаба перевірено",
    invalid: "⚠ Підпис НЕ збігається",
    expired: "✓ Підпис справжній, але застарілий",
    unsupported: "Підпис не перевірено (браузер)",
    key: "ключ",
  },
  en: {
    verified: "✓ Hub signature verified",
    invalid: "⚠ Signature does NOT match",
    expired: "✓ Genuine signature, but stale",
    unsupported: "Signature not checked (browser)",
    key: "key",
  },
};

function bytes(b64) {
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

const V2_OPTIONAL = [
  ["notes", 0x01],
  ["reason", 0x02],
  ["correction", 0x04],
  ["proposed_by", 0x08],
];

/**
 * The fields of a signed event (docs/signatures.md: layout 1, TRYVEVT1, and layout 2, TRYVEVT2,
 * which retractions and approved declarations take), or null if the bytes are neither. As strict
 * as the hub's decoder: unknown flags, a layout-2 event without a field of its own, a header value
 * without its flag, a truncated string or anything left over are refused.
 */
export function parseSigned(data) {
  if (data.length < 49) return null;
  const magic = new TextDecoder().decode(data.subarray(0, 8));
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const out = {
    log_id: Number(view.getBigUint64(8)),
    alert_id: Number(view.getBigUint64(16)),
    occurred_at: Number(view.getBigInt64(24)),
    recorded_at: Number(view.getBigInt64(32)),
    expires_at: Number(view.getBigInt64(40)),
    notes: null,
    reason: null,
    correction: null,
    proposed_by: null,
    proposal_id: null,
    deadline: null,
  };
  const names = ["hub", "kind", "region_id", "threat", "status", "details", "originator", "source"];
  let pos;
  let flags;
  if (magic === "TRYVEVT1") {
    flags = data[48];
    if (flags & ~0x01) return null;
    pos = 49;
  } else if (magic === "TRYVEVT2") {
    if (data.length < 65) return null;
    flags = data[64];
    if (flags & ~0x3f || !(flags & 0x3e)) return null;
    const proposal = view.getBigUint64(48);
    const deadline = view.getBigInt64(56);
    if ((proposal && !(flags & 0x10)) || (deadline && !(flags & 0x20))) return null;
    if (flags & 0x10) out.proposal_id = Number(proposal);
    if (flags & 0x20) out.deadline = Number(deadline);
    pos = 65;
  } else {
    return null;
  }
  for (const [name, bit] of V2_OPTIONAL) if (flags & bit) names.push(name);
  const decoder = new TextDecoder("utf-8", { fatal: true });
  try {
    for (const name of names) {
      if (pos + 2 > data.length) return null;
      const size = view.getUint16(pos);
      pos += 2;
      if (pos + size > data.length) return null;
      out[name] = decoder.decode(data.subarray(pos, pos + size));
      pos += size;
    }
  } catch {
    return null;
  }
  return pos === data.length ? out : null;
}

/** Whether the event document says exactly what the signed fields say. */
export function sameAsSigned(f, event) {
  const time = (value) => (value == null ? null : Date.parse(value));
  return (
    f.log_id === event.id &&
    f.alert_id === event.alert_id &&
    f.kind === event.kind &&
    f.region_id === event.region_id &&
    f.threat === event.threat &&
    f.status === event.status &&
    f.details === (event.details ?? []).join(",") &&
    f.originator === event.originator &&
    f.source === event.source &&
    f.occurred_at === time(event.occurred_at) &&
    f.recorded_at === time(event.recorded_at) &&
    f.notes === (event.notes ?? null) &&
    f.reason === (event.reason ?? null) &&
    f.correction === (event.correction ?? null) &&
    f.proposed_by === (event.proposed_by ?? null) &&
    f.proposal_id === (event.proposal_id ?? null) &&
    f.deadline === time(event.deadline)
  );
}

export class SignatureCheck {
  /** @param element where the mark is shown; @param lang () => "uk" | "en" */
  constructor(element, lang = () => "uk") {
    this.element = element;
    this.lang = lang;
    this.keys = null;
    this.hub = null;
    this.last = null;
  }

  async loadKeys() {
    if (this.keys) return this.keys;
    const doc = await (await fetch(KEYS_URL, { cache: "no-cache" })).json();
    const keys = new Map();
    for (const k of doc.keys) {
      if (k.algorithm !== "Ed25519") continue;
      const key = await crypto.subtle.importKey("raw", bytes(k.public_key), { name: "Ed25519" }, false, [
        "verify",
      ]);
      keys.set(k.key_id, { key, until: k.valid_until ? Date.parse(k.valid_until) : null });
    }
    this.hub = doc.hub;
    this.keys = keys;
    return keys;
  }

  /** "verified", "expired", "invalid", "unsigned" or "unsupported" for one event document. */
  async check(event) {
    const sig = event.sig;
    if (!sig) return "unsigned";
    if (!globalThis.crypto?.subtle) return "unsupported";
    try {
      let entry = (await this.loadKeys()).get(sig.key_id);
      if (!entry) {
        this.keys = null; // the hub may have rotated since the page loaded: ask once more
        entry = (await this.loadKeys()).get(sig.key_id);
      }
      if (!entry || sig.alg !== "Ed25519") return "invalid";
      const signed = bytes(sig.signed);
      const ok = await crypto.subtle.verify({ name: "Ed25519" }, entry.key, bytes(sig.signature), signed);
      if (!ok) return "invalid";
      const f = parseSigned(signed);
      if (!f || f.hub !== this.hub || (entry.until !== null && f.recorded_at > entry.until)) return "invalid";
      const same = sameAsSigned(f, event);
      if (!same) return "invalid";
      return Date.now() > f.expires_at ? "expired" : "verified";
    } catch (err) {
      if (err?.name === "NotSupportedError") return "unsupported";
      console.warn("signature check failed", err);
      return "invalid";
    }
  }

  /** Check a live event and show the result (nothing changes for an unsigned one). */
  async show(event) {
    const state = await this.check(event);
    if (state === "unsigned") return state;
    if (this.last && this.last.id > event.id) return state; // a later event is already shown
    this.last = { id: event.id, state, key: event.sig.key_id };
    this.render();
    return state;
  }

  render() {
    if (!this.element || !this.last) return;
    const words = TEXT[this.lang()] ?? TEXT.uk;
    this.element.hidden = false;
    this.element.className = `sig ${this.last.state}`;
    this.element.dataset.state = this.last.state;
    this.element.dataset.logId = String(this.last.id);
    this.element.textContent = words[this.last.state];
    this.element.title = `${words.key} ${this.last.key} · #${this.last.id}`;
  }
}
