import type { Metadata } from "next";
import { headers } from "next/headers";

import { auth } from "@/lib/auth";
import { deviceName } from "@/lib/server/devices";
import { requireSession } from "@/lib/server/session";

import { DeleteAccountForm } from "./delete-account-form";
import { NameForm } from "./name-form";
import { PasswordForm } from "./password-form";
import { SessionList, type SessionView } from "./session-list";

export const metadata: Metadata = { title: "Account" };

const WHEN = new Intl.DateTimeFormat("en-GB", { dateStyle: "medium", timeStyle: "short", timeZone: "UTC" });

function when(moment: Date): string {
  return `${WHEN.format(moment)} UTC`;
}

export default async function AccountPage() {
  const { user, session } = await requireSession();
  const listed = await auth.api.listSessions({ headers: await headers() });
  // What the page gets of each session: never its token.
  // This device first, then the most recently active.
  const ordered = [...listed].sort(
    (a, b) => Number(b.id === session.id) - Number(a.id === session.id) || new Date(b.updatedAt).getTime() - new Date(a.updatedAt).getTime(),
  );
  const sessions: SessionView[] = ordered.map((entry) => ({
    id: entry.id,
    device: deviceName(entry.userAgent),
    address: entry.ipAddress || "Unknown address",
    created: when(new Date(entry.createdAt)),
    lastActive: when(new Date(entry.updatedAt)),
    current: entry.id === session.id,
  }));
  return (
    <div className="flex flex-col gap-8">
      <h1 className="text-2xl font-bold tracking-tight">Your account</h1>
      <SessionList sessions={sessions} />
      <NameForm name={user.name} />
      <PasswordForm />
      <DeleteAccountForm />
    </div>
  );
}
