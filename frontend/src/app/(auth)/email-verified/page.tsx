import type { Metadata } from "next";
import Link from "next/link";
import { redirect } from "next/navigation";

import { currentSession } from "@/lib/server/session";

export const metadata: Metadata = { title: "Email verification" };

/** Where a mailed verification link lands: signed in on success, with `?error=` when the link cannot be used. */
export default async function EmailVerifiedPage({ searchParams }: { searchParams: Promise<{ error?: string | string[] }> }) {
  const { error } = await searchParams;
  if (error === undefined && (await currentSession())) redirect("/tasks");
  const message =
    error === undefined
      ? "Your email address is verified. Sign in to continue."
      : "This link has expired or cannot be used. Sign in to ask for a new one.";
  return (
    <>
      <h1 className="mb-4 text-xl font-semibold">Email verification</h1>
      <p role={error === undefined ? "status" : "alert"} data-testid="verification-result" className="text-sm text-slate-700">
        {message}
      </p>
      <p className="mt-6 text-center text-sm">
        <Link href="/sign-in" className="font-medium text-indigo-600 underline-offset-2 hover:underline">
          Sign in
        </Link>
      </p>
    </>
  );
}
