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
