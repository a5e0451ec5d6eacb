"use client";

import { useEffect } from "react";

/**
 * Whatever failed while rendering a page (the session store down, a bug), people get a message and
 * a way to try again, never a blank page.
 */
export default function ErrorPage({ error, retry }: { error: unknown; retry: () => void }) {
  useEffect(() => {
    console.error(error);
  }, [error]);

  return (
    <main className="mx-auto flex w-full max-w-md flex-col items-start gap-4 px-4 py-16">
      <h1 className="text-2xl font-bold tracking-tight">Something went wrong</h1>
      <p role="alert" data-testid="page-error" className="text-slate-700">
        Tandem couldn&apos;t load this page. The service may be briefly unavailable; please try again in a moment.
      </p>
      <div className="flex flex-wrap gap-2">
        <button
          type="button"
          onClick={() => retry()}
          className="rounded-md bg-indigo-600 px-4 py-2 font-semibold text-white shadow-sm hover:bg-indigo-500 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600"
        >
          Retry
        </button>
        <a
          href="/sign-in"
          className="rounded-md border border-slate-300 px-4 py-2 font-medium text-slate-700 hover:bg-slate-100 focus-visible:outline-2 focus-visible:outline-indigo-600"
        >
          Go to sign-in
        </a>
      </div>
    </main>
  );
}
