import Link from "next/link";
import type { ReactNode } from "react";

import { requireSession } from "@/lib/server/session";

import { SignOutButton } from "./sign-out-button";

/** Every page in this group is private: the session is checked here, on the server, for each request. */
export default async function AppLayout({ children }: { children: ReactNode }) {
  const { user } = await requireSession();
  return (
    <div className="flex min-h-dvh flex-col">
      <header className="border-b border-slate-200 bg-white">
        <div className="mx-auto flex w-full max-w-2xl items-center justify-between gap-3 px-4 py-3">
          {/* No prefetch: a prefetched private page could be kept past sign-out. */}
          <Link href="/tasks" prefetch={false} className="text-lg font-bold tracking-tight text-indigo-600">
            Tandem
          </Link>
          <div className="flex min-w-0 items-center gap-3">
            <span className="truncate text-sm text-slate-700" data-testid="user-name" title={user.email}>
              {user.name}
            </span>
            <Link href="/account" prefetch={false} className="shrink-0 text-sm font-medium text-indigo-600 underline-offset-2 hover:underline">
              Account
            </Link>
            <SignOutButton />
          </div>
        </div>
      </header>
      <main className="mx-auto w-full max-w-2xl flex-1 px-4 py-6">{children}</main>
    </div>
  );
}
