"""Execute Jupyter notebooks headless and save their outputs (bootstorm).

Runs every code cell of each notebook in a fresh kernel, in order, with
jupyter_client, and writes the outputs back into the .ipynb. Unlike
`jupyter nbconvert --execute`, it keeps listening for `--settle` seconds after
the kernel reports idle: the Deno kernel can report idle before the last
output of a cell arrives, and nbconvert then drops that output.

Exits non-zero when a cell fails (the error is saved in the notebook and the
remaining cells are not run), when a cell times out, or when the kernel dies.

Usage (Debian's python3 with jupyter-client and nbformat):
  /usr/bin/python3 notebooks/execute.py --kernel bootstorm-deno NOTEBOOK...
Normally started by `deno task notebooks` (notebooks/run.ts), which installs
the kernel first.
"""

import argparse
import os
import queue
import sys
import time

try:
    import nbformat
    from jupyter_client.manager import KernelManager
except ImportError as e:  # pragma: no cover - environment problem
    sys.stderr.write(
        f"Cannot run notebooks: {e}. Install Debian's jupyter packages: "
        "apt-get install -y jupyter-client jupyter-nbconvert python3-ipykernel jupyter-notebook\n"
    )
    sys.exit(2)


def run_cell(kc, source, timeout, settle):
    """Execute one cell; return (outputs, execution_count, error or None)."""
    msg_id = kc.execute(source, store_history=True, allow_stdin=False, stop_on_error=True)
    outputs = []
    error = None
    idle_at = None
    deadline = time.monotonic() + timeout
    while True:
        now = time.monotonic()
        if idle_at is not None and now >= idle_at + settle:
            break
        if idle_at is None and now >= deadline:
            return outputs, None, f"no result after {timeout:.0f} s (cell timeout; raise --timeout)"
        wait = (idle_at + settle - now) if idle_at is not None else min(1.0, deadline - now)
        try:
            msg = kc.get_iopub_msg(timeout=max(0.01, wait))
        except queue.Empty:
            if not kc.is_alive():
                return outputs, None, "the kernel died"
            continue
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind = msg["msg_type"]
        content = msg["content"]
        if kind == "status":
            if content["execution_state"] == "idle":
                idle_at = time.monotonic()
            continue
        if kind == "clear_output":
            outputs.clear()
            continue
        if kind in ("execute_input", "comm_open", "comm_msg", "comm_close", "update_display_data"):
            continue
        if kind == "stream" and outputs and outputs[-1].get("output_type") == "stream" \
                and outputs[-1]["name"] == content["name"]:
            outputs[-1]["text"] += content["text"]
            continue
        if kind in ("stream", "display_data", "execute_result", "error"):
            out = nbformat.v4.output_from_msg(msg)
            outputs.append(out)
            if kind == "error":
                error = f"{content.get('ename')}: {content.get('evalue')}"
    count = None
    try:
        while True:
            reply = kc.get_shell_msg(timeout=5)
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                count = reply["content"].get("execution_count")
                if reply["content"].get("status") == "error" and error is None:
                    c = reply["content"]
                    error = f"{c.get('ename')}: {c.get('evalue')}"
                break
    except queue.Empty:
        pass
    return outputs, count, error


def run_notebook(path, kernel, timeout, settle, startup):
    nb = nbformat.read(path, as_version=4)
    km = KernelManager(kernel_name=kernel)
    km.start_kernel(cwd=os.path.dirname(os.path.abspath(path)), env=os.environ.copy())
    kc = km.client()
    kc.start_channels()
    failed = None
    try:
        kc.wait_for_ready(timeout=startup)
        code_cells = [c for c in nb.cells if c.cell_type == "code"]
        for i, cell in enumerate(code_cells, 1):
            cell.outputs = []
            cell.execution_count = None
            if failed:
                continue
            started = time.monotonic()
            outputs, count, error = run_cell(kc, cell.source, timeout, settle)
            cell.outputs = outputs
            cell.execution_count = count
            took = time.monotonic() - started
            print(f"  cell {i}/{len(code_cells)}: {'FAILED' if error else 'ok'} ({took:.1f} s)", flush=True)
            if error:
                failed = f"cell {i} failed: {error}"
                sys.stderr.write(f"{path}: {failed}\n--- cell source ---\n{cell.source}\n---\n")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    nb.metadata["kernelspec"] = {"name": "deno", "display_name": "Deno", "language": "typescript"}
    nb.metadata["language_info"] = {
        "name": "typescript",
        "file_extension": ".ts",
        "mimetype": "text/x.typescript",
        "pygments_lexer": "typescript",
        "codemirror_mode": "typescript",
        "nbconvert_exporter": "script",
    }
    nbformat.validate(nb)
    nbformat.write(nb, path)
    return failed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("notebooks", nargs="+")
    ap.add_argument("--kernel", default="deno", help="kernelspec name (default deno)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per cell (default 900)")
    ap.add_argument("--settle", type=float, default=2.0,
                    help="seconds to keep listening after the kernel reports idle (default 2)")
    ap.add_argument("--startup", type=float, default=120, help="seconds to wait for the kernel (default 120)")
    args = ap.parse_args()
    failures = []
    for path in args.notebooks:
        print(f"{path}:", flush=True)
        started = time.monotonic()
        try:
            failed = run_notebook(path, args.kernel, args.timeout, args.settle, args.startup)
        except Exception as e:  # kernel start failure etc.
            failed = f"{type(e).__name__}: {e}"
        print(f"  {'FAILED: ' + failed if failed else 'ok'} ({time.monotonic() - started:.1f} s)", flush=True)
        if failed:
            failures.append(f"{path}: {failed}")
    if failures:
        sys.stderr.write("Notebooks failed:\n" + "".join(f"  {f}\n" for f in failures))
        return 1
    print(f"{len(args.notebooks)} notebook(s) ran without error")
    return 0


if __name__ == "__main__":
    sys.exit(main())
