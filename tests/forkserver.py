"""A program started the fast way: one process imports it once, then forks a child per run.

    python tests/forkserver.py mnist37      the `mnist37` console script
    python tests/forkserver.py nbdev-docs   nbdev's docs processing of one notebook, as `proc_nbs` sends it

Starting `mnist37` costs 2 to 3 seconds, nearly all of it importing PyTorch and fastai, and the tests start it hundreds
of times; nbdev's processing of a notebook pays the same import again for each notebook. A server pays that once per
pytest worker. Each run is still its own process, forked from the server
before the server has done any work: the child changes to the asked-for folder and environment, points its stdin at
/dev/null and its stdout and stderr at files, and then does what the installed console script does,
`sys.exit(console_script())` (or what nbdev's worker does), so exit codes, tracebacks, `atexit` handlers and file descriptors are those of a real run.

What a fork cannot give is a fresh import: a module that reads the environment when imported (PyTorch's thread
settings, matplotlib's config folder under HOME) has read the server's. So `conftest.mnist37` uses the server only
when a run's environment differs from the server's in variables that mnist37 and fastai read at run time
(`RUN_TIME_VARS`); any other run gets a real new process.

Protocol, one JSON object per line: the test sends {args, env, cwd, stdout, stderr, timeout}; the server answers
{returncode} (negative: killed by that signal, as `subprocess` reports it) or {timeout: true} after killing the run.
"""
import atexit, json, os, signal, sys, threading, time

# Variables read when a command runs, not when a module is imported: a run may change these and still be forked.
# (PyTorch sets TORCHINDUCTOR_CACHE_DIR in a test process that has used its compiler; it reads it only to compile.)
RUN_TIME_VARS = ('MNIST37_DATA', 'MNIST37_CACHE', 'MNIST37_MNIST', 'FASTAI_HOME', 'HTTP_PROXY', 'HTTPS_PROXY',
                 'http_proxy', 'https_proxy', 'NO_PROXY', 'no_proxy', 'TORCHINDUCTOR_CACHE_DIR')

def wait(pid:int, timeout:float) -> dict:
    "Wait for child `pid` up to `timeout` seconds; kill it if it is still running then."
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done: return dict(returncode=os.waitstatus_to_exitcode(status))
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL); os.waitpid(pid, 0)
            return dict(timeout=True)
        time.sleep(0.01)

def serve():
    "Answer requests until stdin closes; return a request in a forked child, which then runs it."
    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    answers.write(b'ready\n'); answers.flush()
    for line in requests:
        req = json.loads(line)
        pid = os.fork()
        if pid == 0: return req
        answers.write(json.dumps(wait(pid, req['timeout'])).encode() + b'\n'); answers.flush()
    sys.exit(0)

def become(req:dict) -> dict:
    "In the child: take the request's folder, environment and files, as a new process would have them."
    os.chdir(req['cwd'])
    os.environ.clear(); os.environ.update(req['env'])
    for fd, path, flags in ((0, os.devnull, os.O_RDONLY), (1, req['stdout'], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                            (2, req['stderr'], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)):
        f = os.open(path, flags, 0o600); os.dup2(f, fd); os.close(f)
    sys.stdin = open(os.devnull)
    return req

def run_as_console_script(main):
    """`sys.exit(main())` as a new process does it, without tearing down every module at exit (0.7 s with PyTorch
    loaded, and nothing a run can see): threads joined, `atexit` handlers run, output flushed, then `os._exit`."""
    try: code = main()
    except SystemExit as e: code = e.code
    except KeyboardInterrupt:  # Python prints the traceback, then dies of SIGINT
        sys.excepthook(*sys.exc_info()); code = -signal.SIGINT
    except BaseException: sys.excepthook(*sys.exc_info()); code = 1
    if code is not None and not isinstance(code, int): print(code, file=sys.stderr); code = 1
    threading._shutdown(); atexit._run_exitfuncs()
    sys.stdout.flush(); sys.stderr.flush()
    if code == -signal.SIGINT: signal.signal(signal.SIGINT, signal.SIG_DFL); os.kill(os.getpid(), signal.SIGINT)
    os._exit(code or 0)

def mnist37():
    "The console script's own import, then what its commands import; `console_script` reads the arguments from `sys.argv`."
    sys.path[0] = os.path.dirname(sys.executable)  # as for the console script: the venv's bin, not tests/
    import importlib
    from mnist37.cli import IMPORTS, build_parser, console_script
    build_parser()  # what every run's parser imports (PyTorch among it)
    for module in {m for ms in IMPORTS.values() for m in ms}: importlib.import_module(module)  # what the commands import
    def run(args): sys.argv = [os.path.join(sys.path[0], 'mnist37'), *args]; return console_script()  # as the script's argv
    return run

def nbdev_docs():
    "nbdev's processing of notebook `args[0]` into `args[1]`, with what the notebooks' import cells import loaded first."
    sys.path[0] = ''  # as for `python -c`
    from pathlib import Path
    import nbdev.serve_drv
    from nbdev.processors import FilterDefaults
    import torch, pandas, matplotlib.pyplot, fastai.learner, fastai.optimizer, fastai.data.core, fastai.callback.core
    import mnist37.all
    def run(args): nbdev.serve_drv.main((Path(args[0]), Path(args[1]), FilterDefaults))
    return run

if __name__ == '__main__':
    run = dict(mnist37=mnist37, nbdev_docs=nbdev_docs)[sys.argv[1].replace('-', '_')]()
    args = become(serve())['args']
    run_as_console_script(lambda: run(args))
