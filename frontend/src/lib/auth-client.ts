import { createAuthClient } from "better-auth/react";

/**
 * The browser's Better Auth client: same-origin, cookie-based. It deliberately has no
 * jwtClient plugin, so browser code never fetches or holds a JWT (DESIGN.md §1).
 */
export const authClient = createAuthClient();
