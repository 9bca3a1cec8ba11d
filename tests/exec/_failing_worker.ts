/**
 * A worker module that fails as it loads, before it could say it is ready:
 * the executor host must count its type as unable to start.
 *
 * @module
 */
throw new Error("This worker fails at start on purpose");
