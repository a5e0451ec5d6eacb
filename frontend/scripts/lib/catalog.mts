// A normalised description of tables in one PostgreSQL schema, to compare the live database
// with what Better Auth itself would create: columns, primary and foreign keys, and indexes.
import type pg from "pg";

export interface TableShape {
  columns: Map<string, string>;
  keys: Set<string>;
  indexes: Set<string>;
}

const COLUMNS = `
  select table_name, column_name, data_type, is_nullable, column_default
  from information_schema.columns
  where table_schema = $1 and table_name = any($2)`;

const KEYS = `
  select cl.relname as table_name, con.contype, fcl.relname as ref_table, con.confdeltype,
    array(select a.attname::text from unnest(con.conkey) with ordinality k(n, o)
          join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.n order by k.o) as columns,
    array(select a.attname::text from unnest(con.confkey) with ordinality k(n, o)
          join pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.n order by k.o) as ref_columns
  from pg_constraint con
  join pg_class cl on cl.oid = con.conrelid
  join pg_namespace ns on ns.oid = cl.relnamespace
  left join pg_class fcl on fcl.oid = con.confrelid
  where ns.nspname = $1 and cl.relname = any($2) and con.contype in ('p', 'f')`;

const INDEXES = `
  select t.relname as table_name, ix.indisunique as is_unique,
    array(select a.attname::text from unnest(ix.indkey) with ordinality k(n, o)
          join pg_attribute a on a.attrelid = t.oid and a.attnum = k.n order by k.o) as columns
  from pg_index ix
  join pg_class t on t.oid = ix.indrelid
  join pg_namespace ns on ns.oid = t.relnamespace
  where ns.nspname = $1 and t.relname = any($2) and not ix.indisprimary`;

const ON_DELETE: Record<string, string> = { a: "no action", r: "restrict", c: "cascade", n: "set null", d: "set default" };

/** `now()` and `CURRENT_TIMESTAMP` mean the same; casts added by the server are noise. */
function normaliseDefault(value: string | null): string {
  if (value === null) return "none";
  const bare = value.toLowerCase().replace(/::[a-z ]+/g, "").trim();
  return bare === "current_timestamp" ? "now()" : bare;
}

export async function describeTables(client: pg.Pool, schema: string, tables: string[]): Promise<Map<string, TableShape>> {
  const shapes = new Map<string, TableShape>();
  const shape = (table: string): TableShape => {
    let found = shapes.get(table);
    if (!found) {
      found = { columns: new Map(), keys: new Set(), indexes: new Set() };
      shapes.set(table, found);
    }
    return found;
  };
  const params = [schema, tables];
  for (const row of (await client.query(COLUMNS, params)).rows) {
    const nullability = row.is_nullable === "YES" ? "null" : "not null";
    shape(row.table_name).columns.set(
      row.column_name,
      `${row.data_type} ${nullability} default ${normaliseDefault(row.column_default)}`,
    );
  }
  for (const row of (await client.query(KEYS, params)).rows) {
    const columns = row.columns.join(", ");
    shape(row.table_name).keys.add(
      row.contype === "p"
        ? `primary key (${columns})`
        : `foreign key (${columns}) references ${row.ref_table} (${row.ref_columns.join(", ")}) on delete ${ON_DELETE[row.confdeltype] ?? row.confdeltype}`,
    );
  }
  for (const row of (await client.query(INDEXES, params)).rows) {
    shape(row.table_name).indexes.add(`${row.is_unique ? "unique index" : "index"} (${row.columns.join(", ")})`);
  }
  return shapes;
}

/**
 * Differences that matter between the expected tables and the live ones. Extra indexes in the
 * live database (the back end may add its own) are reported separately as notes.
 */
export function compareTables(
  expected: Map<string, TableShape>,
  live: Map<string, TableShape>,
): { drift: string[]; notes: string[] } {
  const drift: string[] = [];
  const notes: string[] = [];
  for (const [table, want] of expected) {
    const have = live.get(table);
    if (!have) {
      drift.push(`table "${table}" is missing`);
      continue;
    }
    for (const [column, definition] of want.columns) {
      const actual = have.columns.get(column);
      if (actual === undefined) drift.push(`${table}."${column}" is missing (want ${definition})`);
      else if (actual !== definition) drift.push(`${table}."${column}" is ${actual}; want ${definition}`);
    }
    for (const column of have.columns.keys()) {
      if (!want.columns.has(column)) drift.push(`${table}."${column}" is not part of Better Auth's table`);
    }
    for (const key of want.keys) if (!have.keys.has(key)) drift.push(`${table}: missing ${key}`);
    for (const key of have.keys) if (!want.keys.has(key)) drift.push(`${table}: unexpected ${key}`);
    for (const index of want.indexes) if (!have.indexes.has(index)) drift.push(`${table}: missing ${index}`);
    for (const index of have.indexes) if (!want.indexes.has(index)) notes.push(`${table}: extra ${index}`);
  }
  return { drift, notes };
}
