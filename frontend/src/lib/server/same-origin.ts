import { trustedOrigins } from "@/lib/server/config";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** Why a state-changing request was refused as cross-site. */
export type CrossSiteReason = "cross_site_fetch" | "missing_origin" | "untrusted_origin";

/**
 * CSRF defence for the cookie-authenticated proxy: a request that can change state must come
 * from the app's own pages. Browsers always send `Origin` on such requests and, when they
 * support Fetch Metadata, `Sec-Fetch-Site`; a missing or "null" Origin is refused.
 * Returns why the request is refused, or null when it may proceed.
 */
export function crossSiteStateChange(request: Request): CrossSiteReason | null {
  if (SAFE_METHODS.has(request.method)) return null;
  const site = request.headers.get("sec-fetch-site");
  if (site !== null && site !== "same-origin") return "cross_site_fetch";
  const origin = request.headers.get("origin");
  if (origin === null || origin === "null") return "missing_origin";
  return trustedOrigins().includes(origin) ? null : "untrusted_origin";
}
