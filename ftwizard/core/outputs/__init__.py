"""What leaves the tool after a run: sampling prompts, the chat, the Ollama Modelfile,
llama.cpp's k-quants and the upload to the Hugging Face Hub.

May import every other part of ``core``; nothing in ``core`` imports it.
"""
