import Link from "next/link";

/** Where the verification link lands, signed in (or with `?error=` when it cannot be used). */
export const VERIFIED_PATH = "/email-verified";

/** After sign-up, when the address must be verified first. */
export function CheckYourEmail({ email }: { email: string }) {
  return (
    <>
      <h1 className="mb-4 text-xl font-semibold">Check your email</h1>
      <p role="status" data-testid="check-email" className="text-sm text-slate-700">
        We sent a link to <strong className="break-all">{email}</strong>. Open it within an hour to finish signing up and sign
        in.
      </p>
      <p className="mt-6 text-center text-sm text-slate-600">
        Already verified?{" "}
        <Link href="/sign-in" className="font-medium text-indigo-600 underline-offset-2 hover:underline">
          Sign in
        </Link>
      </p>
    </>
  );
}
