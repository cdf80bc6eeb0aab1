/**
 * Compiled code of the program's modules, kept in a lifecycle host across passes.
 *
 * Every pass loads the program afresh (host.ts `forgetProgramModules`), and Node compiles each
 * module's source again every time it loads it: parsing and compiling some 1.7 MB of build/ was the
 * largest part of a kept host's own CPU per pass. Here the first load of a file compiles it once as
 * a `vm.Script` of the module wrapper Node itself uses (`Module.wrap`), and every later load of the
 * same file with the same text runs that script again.
 *
 * Why this is faithful: only compilation is reused, never a value. Running the script evaluates the
 * wrapper expression into a new function, and calling it evaluates the module's body with its own
 * `exports`, `require` and `module`: every module-level variable, object and closure is created
 * again, exactly as in a new process. V8's compiled code (bytecode, and the functions compiled on
 * the way) holds no program state. A file whose text changed is compiled again. `require` and
 * everything else of the load are Node's own: the module is still compiled by Node's
 * `Module.prototype._compile`, with a one-line body that calls the cached function, so Node makes
 * the module's `require` and keeps its bookkeeping as for any module.
 */
import Module from "node:module";
import * as vm from "node:vm";

interface CompilingModule {
  _compile(content: string, filename: string, format?: string): unknown;
}

type ModuleWrapper = (
  exports: unknown,
  require: NodeJS.Require,
  module: Module,
  filename: string,
  dirname: string,
) => unknown;

/** Where the cached function waits for the one-line body, on the module being compiled. */
const WRAPPER = Symbol.for("lifecycleHost.compiledWrapper");
const BODY = `return module[Symbol.for(${JSON.stringify(WRAPPER.description)})].apply(this, arguments);`;

export interface CompiledModulesCounts {
  /** Loads compiled from their text (first load of a file, or its text changed). */
  compiled: number;
  /** Loads that ran the kept compiled code. */
  reused: number;
}

/**
 * From now on, modules `isProgramModule` names are compiled once per text and evaluated afresh at
 * every load. Returns live counts of both kinds of load, and how to go back to Node's own compile.
 */
export function keepCompiledModules(isProgramModule: (filename: string) => boolean): {
  counts: CompiledModulesCounts;
  stop(): void;
} {
  const counts: CompiledModulesCounts = { compiled: 0, reused: 0 };
  const scripts = new Map<string, { content: string; script: vm.Script }>();
  const proto = (Module as unknown as { prototype: CompilingModule }).prototype;
  const compile = proto._compile;
  proto._compile = function (this: Module & Record<symbol, unknown>, content, filename, format) {
    if (format === "module" || !isProgramModule(filename)) return compile.call(this, content, filename, format);
    let kept = scripts.get(filename);
    if (kept?.content === content) counts.reused++;
    else {
      let script: vm.Script;
      try {
        script = new vm.Script(Module.wrap(content), { filename });
      } catch {
        // Node's own compile reports it (or loads it as an ES module, as it would have).
        return compile.call(this, content, filename, format);
      }
      kept = { content, script };
      scripts.set(filename, kept);
      counts.compiled++;
    }
    // Arguments as Node passes them: (exports, require, module, __filename, __dirname).
    this[WRAPPER] = kept.script.runInThisContext({ displayErrors: true }) as ModuleWrapper;
    try {
      return compile.call(this, BODY, filename, format);
    } finally {
      delete this[WRAPPER];
    }
  };
  return { counts, stop: () => void (proto._compile = compile) };
}
