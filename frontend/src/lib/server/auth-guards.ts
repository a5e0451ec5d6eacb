import { APIError, createAuthMiddleware } from "better-auth/api";

/**
 * `hooks.before`: deleting an account always takes the password. Better Auth 1.7.25 would also
 * delete without one when the session is less than a day old (its `freshAge`), which would let
 * anyone at an unlocked, recently signed-in browser delete the account.
 */
export const requirePasswordToDelete = createAuthMiddleware(async (ctx) => {
  if (ctx.path !== "/delete-user") return;
  const body: unknown = ctx.body;
  const password = typeof body === "object" && body !== null && "password" in body ? body.password : undefined;
  if (typeof password !== "string" || password === "") {
    throw new APIError("BAD_REQUEST", { code: "PASSWORD_REQUIRED", message: "Enter your password to delete your account" });
  }
});
