import { headers } from "next/headers";
import { redirect } from "next/navigation";
import { cache } from "react";

import { auth, type Session } from "@/lib/auth";
import { PATHNAME_HEADER, signInPath } from "@/lib/safe-next";

/** The current session, looked up once per request however many components ask. */
export const currentSession = cache(async (): Promise<Session | null> => {
  return auth.api.getSession({ headers: await headers() });
});

/** The session, or a redirect to sign-in that returns to the current page afterwards. */
export async function requireSession(): Promise<Session> {
  const session = await currentSession();
  if (!session) redirect(signInPath((await headers()).get(PATHNAME_HEADER)));
  return session;
}
