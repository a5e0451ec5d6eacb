"use server";

import { headers } from "next/headers";
import { redirect } from "next/navigation";

import { authErrorMessage, MAX_NAME, newPasswordError } from "@/app/(auth)/auth-form-helpers";
import { auth } from "@/lib/auth";
import { callAuthEndpoint, type EndpointOutcome } from "@/lib/server/auth-endpoint";
import { requireSession } from "@/lib/server/session";

/** What an account action tells the page: done, or a sentence saying why not. */
export type ActionResult = { ok: true } | { ok: false; message: string };

function result(outcome: EndpointOutcome): ActionResult {
  return outcome.ok ? { ok: true } : { ok: false, message: authErrorMessage(outcome, outcome.retryAfter) };
}

/** Signs out one of the person's other sessions, named by id: its token never leaves the server. */
export async function revokeSession(sessionId: string): Promise<ActionResult> {
  const { session } = await requireSession();
  if (sessionId === session.id) return { ok: false, message: "To sign out this device, use Sign out." };
  // Only the person's own sessions are listed, so another person's id finds nothing.
  const sessions = await auth.api.listSessions({ headers: await headers() });
  const target = sessions.find((listed) => listed.id === sessionId);
  if (!target) return { ok: false, message: "That session has already ended." };
  return result(await callAuthEndpoint("/revoke-session", { token: target.token }));
}

/** Signs out every session but this one. */
export async function revokeOtherSessions(): Promise<ActionResult> {
  await requireSession();
  return result(await callAuthEndpoint("/revoke-other-sessions", {}));
}

/** A new password, given the current one: every other session ends, this device stays signed in. */
export async function changePassword(currentPassword: string, newPassword: string): Promise<ActionResult> {
  await requireSession();
  if (!currentPassword) return { ok: false, message: "Enter your current password." };
  const invalid = newPasswordError(newPassword);
  if (invalid) return { ok: false, message: invalid };
  // Better Auth ends every session of the user and gives this browser a new one (its cookie).
  return result(await callAuthEndpoint("/change-password", { currentPassword, newPassword, revokeOtherSessions: true }));
}

export async function changeName(name: string): Promise<ActionResult> {
  await requireSession();
  const trimmed = name.trim();
  if (!trimmed) return { ok: false, message: "Enter your name." };
  if (trimmed.length > MAX_NAME) return { ok: false, message: `Use at most ${MAX_NAME} characters.` };
  return result(await callAuthEndpoint("/update-user", { name: trimmed }));
}

/** Deletes the account, its tasks (foreign-key cascade) and every session, given the password. */
export async function deleteAccount(password: string): Promise<ActionResult> {
  await requireSession();
  if (!password) return { ok: false, message: "Enter your password." };
  const outcome = await callAuthEndpoint("/delete-user", { password });
  if (!outcome.ok) return result(outcome);
  redirect("/sign-in");
}
