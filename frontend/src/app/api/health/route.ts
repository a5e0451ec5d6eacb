/**
 * Liveness for the load balancer's health checks: the server is up and serving routes. It touches
 * nothing that a rate limit counts; Better Auth's own routes (/api/auth/ok too) go through its
 * database rate limiter, and checking those every second would end with every instance marked down.
 */
export function GET(): Response {
  return Response.json({ status: "ok" }, { headers: { "Cache-Control": "no-store" } });
}
