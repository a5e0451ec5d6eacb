import type { Metadata } from "next";

import { requireSession } from "@/lib/server/session";

import { TaskBoard } from "./task-board";

export const metadata: Metadata = { title: "Tasks" };

export default async function TasksPage() {
  // The layout checks too; this keeps the page safe on its own (the lookup is cached per request).
  await requireSession();
  return <TaskBoard />;
}
