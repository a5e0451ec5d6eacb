import { proxyTaskRequest } from "@/lib/server/backend";

const LIST_PARAMS = ["status", "q", "sort", "limit", "cursor"] as const;

export async function GET(request: Request): Promise<Response> {
  const incoming = new URL(request.url).searchParams;
  const query = new URLSearchParams();
  for (const name of LIST_PARAMS) {
    const value = incoming.get(name);
    if (value !== null) query.set(name, value);
  }
  return proxyTaskRequest(request, { kind: "collection" }, query);
}

export async function POST(request: Request): Promise<Response> {
  return proxyTaskRequest(request, { kind: "collection" });
}
