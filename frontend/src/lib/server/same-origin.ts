import { trustedOrigins } from "@/lib/server/config";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * CSRF defence for the cookie-authenticated proxy: a request that can change state must come
 * from the app's own pages. Browsers always send `Origin` on such requests and, when they
 * support Fetch Metadata, `Sec-Fetch-Site`; a missing or "null" Origin is refused.
 */
export function isCrossSiteStateChange(request: Request): boolean {
  if (SAFE_METHODS.has(request.method)) return false;
  const site = request.headers.get("sec-fetch-site");
  if (site !== null && site !== "same-origin") return true;
  const origin = request.headers.get("origin");
  if (origin === null || origin === "null") return true;
  return !trustedOrigins().includes(origin);
}
