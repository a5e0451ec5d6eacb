/** Request header set by src/proxy.ts so server components know the page path (only used to build `next`). */
export const PATHNAME_HEADER = "x-tandem-pathname";

const MAX_LENGTH = 2048;
const AUTH_PAGES = new Set(["/sign-in", "/sign-up", "/forgot-password", "/reset-password", "/email-verified"]);

/**
 * The `next` return path if it is safe to redirect to, else null.
 *
 * Only a same-site relative path is accepted: it starts with exactly one "/", has no
 * backslash or control character (browsers treat "/\evil.example" like "//evil.example"),
 * and still points at this site after URL parsing. The auth pages are refused so sign-in
 * never loops back to itself.
 */
export function safeNextPath(value: string | null | undefined): string | null {
  if (!value || value.length > MAX_LENGTH) return null;
  if (!value.startsWith("/") || value.startsWith("//")) return null;
  if (/[\\\u0000-\u001f\u007f]/.test(value)) return null;
  const base = "http://tandem.invalid";
  let url: URL;
  try {
    url = new URL(value, base);
  } catch {
    return null;
  }
  if (url.origin !== base || AUTH_PAGES.has(url.pathname)) return null;
  return `${url.pathname}${url.search}${url.hash}`;
}

/** The sign-in URL that brings the user back to `path` afterwards. */
export function signInPath(path: string | null): string {
  const next = safeNextPath(path);
  return next ? `/sign-in?next=${encodeURIComponent(next)}` : "/sign-in";
}
