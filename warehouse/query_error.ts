/**
 * DuckDB errors as messages that point into the query: DuckDB is opened
 * with `errors_as_json`, so an error carries its type, message and the
 * character position in the SQL; {@link fromDuckDBError} turns that into a
 * {@link QueryError} whose message shows the line with a caret under the
 * position.
 *
 * @module
 */

/** A query DuckDB refused or could not finish. */
export class QueryError extends Error {
  /** The SQL as given. */
  readonly sql: string;
  /** DuckDB's error type ("Parser", "Binder", "Catalog", …). */
  readonly type: string;
  /** DuckDB's own message. */
  readonly problem: string;
  /** Where in the SQL (0-based offset, 1-based line and column), when DuckDB says. */
  readonly position: { offset: number; line: number; column: number } | null;

  /** A message of the problem, the SQL line with a caret under `position`, then `hint`. */
  constructor(
    sql: string,
    type: string,
    problem: string,
    position: { offset: number; line: number; column: number } | null,
    hint: string,
  ) {
    const where = position
      ? ` at line ${position.line}, column ${position.column}`
      : "";
    let text = `SQL error (${type})${where}: ${problem}`;
    if (position) text += "\n" + caret(sql, position.line, position.column);
    if (hint) text += "\n" + hint;
    super(text);
    this.name = "QueryError";
    this.sql = sql;
    this.type = type;
    this.problem = problem;
    this.position = position;
  }
}

/** The line of `sql` with a caret under column `column` (both 1-based). */
function caret(sql: string, line: number, column: number): string {
  const text = sql.split("\n")[line - 1] ?? "";
  const label = String(line);
  return `  ${label} | ${text}\n  ${" ".repeat(label.length)} | ${
    " ".repeat(Math.max(0, column - 1))
  }^`;
}

/**
 * Line and column (1-based) of a 0-based position in `sql`. DuckDB counts
 * bytes of the UTF-8 text; the column counts characters.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lineColumn } from "./query_error.ts";
 * assert.deepEqual(lineColumn("select 1,\n  foo", 12), { offset: 12, line: 2, column: 3 });
 * assert.deepEqual(lineColumn("select 'é', foo", 13), { offset: 12, line: 1, column: 13 }); // é is 2 bytes
 * ```
 */
export function lineColumn(
  sql: string,
  byteOffset: number,
): { offset: number; line: number; column: number } {
  const bytes = new TextEncoder().encode(sql);
  const before = new TextDecoder().decode(
    bytes.subarray(0, Math.min(byteOffset, bytes.length)),
  );
  const lines = before.split("\n");
  return {
    offset: before.length,
    line: lines.length,
    column: [...lines[lines.length - 1]].length + 1,
  };
}

/**
 * Turn an error thrown by `@duckdb/node-api` for `sql` into a
 * {@link QueryError} (JSON errors: exact position; plain ones: as they are).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fromDuckDBError } from "./query_error.ts";
 * const e = fromDuckDBError('Binder Error: {"exception_type":"Binder","exception_message":"Referenced column \\"foo\\" not found","position":"7"}', "select foo from runs", "");
 * assert.equal(e.type, "Binder");
 * assert.deepEqual(e.position, { offset: 7, line: 1, column: 8 });
 * console.log(e.message);
 * // SQL error (Binder) at line 1, column 8: Referenced column "foo" not found
 * //   1 | select foo from runs
 * //     |        ^
 * ```
 */
export function fromDuckDBError(
  message: string,
  sql: string,
  hint: string,
): QueryError {
  const brace = message.indexOf("{");
  if (brace >= 0) {
    try {
      const j = JSON.parse(message.slice(brace)) as Record<string, string>;
      const type = j.exception_type ?? "DuckDB";
      const pos =
        j.position !== undefined && Number.isFinite(Number(j.position))
          ? lineColumn(sql, Number(j.position))
          : null;
      return new QueryError(
        sql,
        type,
        j.exception_message ?? message,
        pos,
        hint,
      );
    } catch { /* not JSON: fall through */ }
  }
  const m = /^([A-Za-z ]+) Error: ([\s\S]*)$/.exec(message);
  return new QueryError(
    sql,
    m ? m[1] : "DuckDB",
    m ? m[2] : message,
    null,
    hint,
  );
}
