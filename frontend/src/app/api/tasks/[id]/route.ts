import { proxyTaskRequest } from "@/lib/server/backend";

type Context = { params: Promise<{ id: string }> };

async function forward(request: Request, { params }: Context): Promise<Response> {
  const { id } = await params;
  return proxyTaskRequest(request, { kind: "task", id });
}

export { forward as GET, forward as PUT, forward as PATCH, forward as DELETE };
