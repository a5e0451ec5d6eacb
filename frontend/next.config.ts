import type { NextConfig } from "next";

// Pages get their Content-Security-Policy (with a per-request nonce) from src/proxy.ts.
// These headers apply to every response, API routes included. They are fixed by `next build`
// (the routes manifest), so HSTS, which depends on the runtime BETTER_AUTH_URL, is not here:
// see addTransportSecurity in src/lib/server/responses.ts.
const securityHeaders = [
  { key: "Referrer-Policy", value: "strict-origin-when-cross-origin" },
  { key: "X-Content-Type-Options", value: "nosniff" },
  { key: "X-Frame-Options", value: "DENY" },
  { key: "Cross-Origin-Opener-Policy", value: "same-origin" },
  { key: "Permissions-Policy", value: "camera=(), microphone=(), geolocation=(), payment=()" },
];

const nextConfig: NextConfig = {
  poweredByHeader: false,
  reactStrictMode: true,
  async headers() {
    return [
      { source: "/:path*", headers: securityHeaders },
      {
        // JSON endpoints never render a document.
        source: "/api/:path*",
        headers: [{ key: "Content-Security-Policy", value: "default-src 'none'; frame-ancestors 'none'" }],
      },
    ];
  },
};

export default nextConfig;
