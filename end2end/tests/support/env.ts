/** Where the app and the Anthropic stand-in run, as .ci/test sets them. */
export const baseURL = (process.env.E2E_BASE_URL ?? 'http://127.0.0.1:3000').replace(/\/+$/, '');
export const stubURL = (process.env.STUB_URL ?? 'http://127.0.0.1:3199').replace(/\/+$/, '');
/** Debian's Chromium; Playwright's own browser download is not available here. */
export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
