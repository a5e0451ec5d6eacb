import { getSessionCookie } from "better-auth/cookies";
import { NextResponse, type NextRequest } from "next/server";

import { PATHNAME_HEADER, signInPath } from "@/lib/safe-next";
import { addTransportSecurity } from "@/lib/server/responses";

const PROTECTED_PREFIXES = ["/tasks", "/account"];

function isProtected(pathname: string): boolean {
  return PROTECTED_PREFIXES.some((prefix) => pathname === prefix || pathname.startsWith(`${prefix}/`));
}

function contentSecurityPolicy(nonce: string, https: boolean): string {
  const dev = process.env.NODE_ENV === "development";
  return [
    "default-src 'self'",
    // Next.js puts the nonce on its own inline and bundle scripts; 'strict-dynamic' lets those load chunks.
    `script-src 'self' 'nonce-${nonce}' 'strict-dynamic'${dev ? " 'unsafe-eval'" : ""}`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' blob: data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    ...(https ? ["upgrade-insecure-requests"] : []),
  ].join("; ");
}

/**
 * Optimistic redirects only: a protected page without a session cookie goes straight to
 * sign-in, keeping the return path. The cookie is not validated here; every protected page
 * checks the session on the server. It also sets the per-request CSP nonce, and HSTS on https.
 * It does not run for /api/ (each route sets its own headers there): for it, Next.js would
 * buffer every request body, up to 10 MB, before the route could read it
 * (next/dist/server/body-streams.js, getCloneableBody).
 */
export function proxy(request: NextRequest): NextResponse {
  const { pathname, search } = request.nextUrl;
  const nonce = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64");
  const csp = contentSecurityPolicy(nonce, request.nextUrl.protocol === "https:");

  let response: NextResponse;
  if (isProtected(pathname) && getSessionCookie(request) === null) {
    response = NextResponse.redirect(new URL(signInPath(`${pathname}${search}`), request.url));
  } else {
    const headers = new Headers(request.headers);
    headers.set("Content-Security-Policy", csp);
    headers.set(PATHNAME_HEADER, `${pathname}${search}`);
    response = NextResponse.next({ request: { headers } });
  }
  response.headers.set("Content-Security-Policy", csp);
  addTransportSecurity(response.headers);
  return response;
}

export const config = {
  matcher: ["/((?!api/|_next/static|_next/image|favicon.ico|robots.txt).*)"],
};
