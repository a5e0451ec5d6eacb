"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState, type FormEvent } from "react";

import { SubmitButton } from "@/components/submit-button";
import { TextField } from "@/components/text-field";
import { authClient } from "@/lib/auth-client";

import {
  MAX_NAME,
  MIN_PASSWORD,
  authFailure,
  compact,
  emailError,
  focusFirstInvalid,
  newPasswordError,
  type FieldErrors,
} from "../auth-form-helpers";
import { CheckYourEmail, VERIFIED_PATH } from "../check-your-email";

type Field = "name" | "email" | "password";

export function SignUpForm({ next }: { next: string | null }) {
  const router = useRouter();
  const [errors, setErrors] = useState<FieldErrors<Field>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [pending, setPending] = useState(false);
  const [mailedTo, setMailedTo] = useState<string | null>(null);

  async function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = event.currentTarget;
    const data = new FormData(form);
    const name = String(data.get("name") ?? "").trim();
    const email = String(data.get("email") ?? "").trim();
    const password = String(data.get("password") ?? "");
    const found = compact<Field>({
      name: !name ? "Enter your name." : name.length > MAX_NAME ? `Use at most ${MAX_NAME} characters.` : undefined,
      email: emailError(email),
      password: newPasswordError(password),
    });
    setErrors(found);
    setFormError(null);
    if (Object.keys(found).length > 0) {
      focusFirstInvalid(form, found);
      return;
    }

    setPending(true);
    let signedIn = false;
    const failure = await authFailure(async (options) => {
      const result = await authClient.signUp.email({ name, email, password, callbackURL: VERIFIED_PATH }, options);
      signedIn = Boolean(result.data?.token);
      return result;
    });
    if (failure) {
      setFormError(failure);
      setPending(false);
      return;
    }
    if (!signedIn) {
      // Verification required: the same answer whether or not the address already had an account.
      setMailedTo(email);
      return;
    }
    router.replace(next ?? "/tasks");
    router.refresh();
  }

  if (mailedTo) return <CheckYourEmail email={mailedTo} />;

  const signInHref = next ? `/sign-in?next=${encodeURIComponent(next)}` : "/sign-in";
  return (
    <>
      <h1 className="mb-6 text-xl font-semibold">Create your account</h1>
      <form noValidate onSubmit={onSubmit} className="flex flex-col gap-4" aria-describedby={formError ? "form-error" : undefined}>
        {formError ? (
          <p id="form-error" role="alert" data-testid="form-error" className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-800">
            {formError}
          </p>
        ) : null}
        <TextField name="name" label="Name" autoComplete="name" required maxLength={MAX_NAME} error={errors.name} />
        <TextField name="email" label="Email" type="email" autoComplete="email" inputMode="email" required error={errors.email} />
        <TextField
          name="password"
          label="Password"
          type="password"
          autoComplete="new-password"
          required
          error={errors.password}
          hint={`At least ${MIN_PASSWORD} characters.`}
        />
        <SubmitButton pending={pending} pendingLabel="Creating account…">
          Create account
        </SubmitButton>
      </form>
      <p className="mt-6 text-center text-sm text-slate-600">
        Already have an account?{" "}
        <Link href={signInHref} className="font-medium text-indigo-600 underline-offset-2 hover:underline">
          Sign in
        </Link>
      </p>
    </>
  );
}
