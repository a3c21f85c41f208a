"""`python -m pipeline` is the same as the `attention-atlas` console script."""

from pipeline.cli import main

if __name__ == "__main__":
    main()
