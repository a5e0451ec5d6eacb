import { redirect } from "next/navigation";

import { currentSession } from "@/lib/server/session";

export default async function Home(): Promise<never> {
  redirect((await currentSession()) ? "/tasks" : "/sign-in");
}
