"""Variables Gamma sets between its own processes: not configuration, so not in shared.config's settings (the
README lists them apart). A module of its own, importing nothing, for `gamma up`'s lean launcher."""

RESTARTED_BY_UP = "GAMMA_RESTARTED_BY_UP"

PROCESS_ENV = {
    RESTARTED_BY_UP: "set by `gamma up` for the worker it starts again itself when it dies: `gamma worker` then "
                     "becomes its worker process, without a supervisor of its own",
}
