import { servedOverHttps } from "@/lib/server/config";

/** HSTS: one year, subdomains included. */
export const STRICT_TRANSPORT_SECURITY = "max-age=31536000; includeSubDomains";

/**
 * Adds `Strict-Transport-Security` when the app's public URL (BETTER_AUTH_URL) is https. Decided
 * per response from the runtime environment: next.config.ts `headers()` cannot, because
 * `next start` serves those from the routes manifest written by `next build`
 * (next/dist/server/lib/router-utils/filesystem.js:436), with the build's environment.
 * Pages get it from src/proxy.ts; the API routes, which that proxy does not run for, from their
 * handlers (backend.ts, app/api/auth).
 */
export function addTransportSecurity(headers: Headers): void {
  if (servedOverHttps()) headers.set("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY);
}

/** JSON error bodies in the API's shape, `{"detail", "code"}`, never cacheable. */
export function errorResponse(
  status: number,
  detail: string,
  code: string,
  headers: Record<string, string> = {},
): Response {
  return Response.json(
    { detail, code },
    { status, headers: { "Cache-Control": "no-store", ...headers } },
  );
}
