"""Run llama-cpp-python's own OpenAI-compatible server (``python -m llama_cpp.server``).

The only differences from running that module directly are offmem's llama.cpp
settings: no extra CPU buffer types on CPUs that report AMX (llama.cpp's AMX
kernels crash on VMs that report AMX without enabling it), and passive OpenMP
waiting (see offmem/summarize/llamacpp.py). All arguments go to the server unchanged, e.g.::

    python -m tests.support.llama_server --model M.gguf --host 127.0.0.1 --port 8011
"""

from __future__ import annotations

from offmem.summarize.llamacpp import extra_buffers_wanted, model_params, prepare_runtime


def main() -> None:
    prepare_runtime()  # before llama_cpp loads its OpenMP runtime
    from llama_cpp.server.__main__ import main as server_main

    with model_params(extra_buffers_wanted()):
        server_main()


if __name__ == "__main__":
    main()
