"use client";

import Link from "next/link";
import { useState, type FormEvent } from "react";

import { FormError } from "@/components/form-error";
import { SubmitButton } from "@/components/submit-button";
import { TextField } from "@/components/text-field";
import { authClient } from "@/lib/auth-client";

import { MIN_PASSWORD, authFailure, newPasswordError } from "../auth-form-helpers";

const EXPIRED = "This link has expired or was already used. Ask for a new one.";

export function ResetPasswordForm({ token }: { token: string | null }) {
  const [error, setError] = useState<string | undefined>(undefined);
  const [formError, setFormError] = useState<string | null>(token ? null : EXPIRED);
  const [done, setDone] = useState(false);
  const [pending, setPending] = useState(false);

  async function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (!token) return;
    const newPassword = String(new FormData(event.currentTarget).get("password") ?? "");
    const invalid = newPasswordError(newPassword);
    setError(invalid);
    setFormError(null);
    if (invalid) return;
    setPending(true);
    const failure = await authFailure((options) => authClient.resetPassword({ newPassword, token }, options));
    setPending(false);
    if (failure) setFormError(failure);
    else setDone(true);
  }

  return (
    <>
      <h1 className="mb-6 text-xl font-semibold">Choose a new password</h1>
      {done ? (
        <p role="status" data-testid="reset-done" className="text-sm text-slate-700">
          Your password is changed, and you are signed out everywhere.{" "}
          <Link href="/sign-in" className="font-medium text-indigo-600 underline-offset-2 hover:underline">
            Sign in
          </Link>{" "}
          with the new one.
        </p>
      ) : (
        <form noValidate onSubmit={onSubmit} className="flex flex-col gap-4">
          <FormError message={formError} />
          {token ? (
            <>
              <TextField
                name="password"
                label="New password"
                type="password"
                autoComplete="new-password"
                required
                error={error}
                hint={`At least ${MIN_PASSWORD} characters.`}
              />
              <SubmitButton pending={pending} pendingLabel="Saving…">
                Set new password
              </SubmitButton>
            </>
          ) : null}
        </form>
      )}
      <p className="mt-6 text-center text-sm text-slate-600">
        <Link href="/forgot-password" className="font-medium text-indigo-600 underline-offset-2 hover:underline">
          Ask for a new link
        </Link>
      </p>
    </>
  );
}
