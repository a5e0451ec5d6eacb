"use client";

import Link from "next/link";
import { useState, type FormEvent } from "react";

import { FormError } from "@/components/form-error";
import { SubmitButton } from "@/components/submit-button";
import { TextField } from "@/components/text-field";
import { authClient } from "@/lib/auth-client";

import { authFailure, emailError } from "../auth-form-helpers";
import { RESET_PATH } from "../reset-password/reset-path";

export function ForgotPasswordForm() {
  const [error, setError] = useState<string | undefined>(undefined);
  const [formError, setFormError] = useState<string | null>(null);
  const [sent, setSent] = useState(false);
  const [pending, setPending] = useState(false);

  async function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const email = String(new FormData(event.currentTarget).get("email") ?? "").trim();
    const invalid = emailError(email);
    setError(invalid);
    setFormError(null);
    if (invalid) return;
    setPending(true);
    const failure = await authFailure((options) => authClient.requestPasswordReset({ email, redirectTo: RESET_PATH }, options));
    setPending(false);
    if (failure) setFormError(failure);
    else setSent(true);
  }

  return (
    <>
      <h1 className="mb-6 text-xl font-semibold">Reset your password</h1>
      {sent ? (
        // The same words whether or not the address has an account.
        <p role="status" data-testid="reset-sent" className="text-sm text-slate-700">
          If an account uses that address, we sent it a link to choose a new password. The link works once, within an hour.
        </p>
      ) : (
        <form noValidate onSubmit={onSubmit} className="flex flex-col gap-4">
          <FormError message={formError} />
          <TextField name="email" label="Email" type="email" autoComplete="email" inputMode="email" required error={error} />
          <SubmitButton pending={pending} pendingLabel="Sending…">
            Send reset link
          </SubmitButton>
        </form>
      )}
      <p className="mt-6 text-center text-sm text-slate-600">
        <Link href="/sign-in" className="font-medium text-indigo-600 underline-offset-2 hover:underline">
          Back to sign in
        </Link>
      </p>
    </>
  );
}
