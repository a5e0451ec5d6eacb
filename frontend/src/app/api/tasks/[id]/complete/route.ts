import { proxyTaskRequest } from "@/lib/server/backend";

type Context = { params: Promise<{ id: string }> };

export async function PATCH(request: Request, { params }: Context): Promise<Response> {
  const { id } = await params;
  return proxyTaskRequest(request, { kind: "task", id, action: "complete" });
}
