import { redactSecrets } from '../core/redact.js';

/** Bidirectional controls (embeddings, overrides, isolates, marks): they make a message display other than it reads. */
const BIDI_CONTROLS = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g;

/** `U+202E` for a bidi control: visible, and harmless to whatever displays it. */
export function showBidiControls(text: string): string {
  return text.replace(BIDI_CONTROLS, (c) => `<U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}>`);
}

/**
 * A message as an HTTP answer may carry it to anyone holding a token, or to no one in particular
 * (`/readyz`): without the store's location (a file path, a host; the CLI names it, the API does
 * not), without a secret of any connection string, and with its bidi controls made visible.
 */
export function publicMessage(message: string, storeLocation: string): string {
  let text = message;
  if (storeLocation.length > 0) {
    text = text
      .split(`store ${storeLocation}: `)
      .join('')
      .split(` in ${storeLocation}`)
      .join('')
      .split(`store ${storeLocation}`)
      .join('the store')
      .split(storeLocation)
      .join('the store');
  }
  return showBidiControls(redactSecrets(text));
}
