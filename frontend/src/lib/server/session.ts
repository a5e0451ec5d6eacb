import { headers } from "next/headers";
import { redirect } from "next/navigation";
import { cache } from "react";

import { auth, type Session } from "@/lib/auth";
import { PATHNAME_HEADER, signInPath } from "@/lib/safe-next";
import { requestIdFrom, withRequestId } from "@/lib/server/audit";

/**
 * The current session, looked up once per request however many components ask. The lookup has
 * a request id, like every other request, for any audit event it causes (an expired session
 * cleared).
 */
export const currentSession = cache(async (): Promise<Session | null> => {
  const requestHeaders = await headers();
  return withRequestId(requestIdFrom(requestHeaders), () => auth.api.getSession({ headers: requestHeaders }));
});

/** The session, or a redirect to sign-in that returns to the current page afterwards. */
export async function requireSession(): Promise<Session> {
  const session = await currentSession();
  if (!session) redirect(signInPath((await headers()).get(PATHNAME_HEADER)));
  return session;
}
