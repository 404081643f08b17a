"""Word groups that ``route="auto"`` reads as topics: prior knowledge, kept apart as data.

A fitted model only knows the words of the prompts it was fitted on; these groups let it carry what it
learns about a topic ("code", "math") to words it never saw there (``kotlin``, ``integral``). Each group
is one feature, ``g:<group>``, present when the ask holds any of its terms, and ``g:<group>+`` when it
holds at least two distinct ones; the fitting script finds how much each group weighs.

The lists were written from general knowledge of what people ask models, not from the labelled prompts.
Terms are lower-case words, or two words separated by one space (matched as neighbours).
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["GROUPS"]

GROUPS: Mapping[str, tuple[str, ...]] = {
    "code": (
        "python", "java", "javascript", "typescript", "rust", "golang", "cpp", "csharp", "ruby", "php",
        "kotlin", "swift", "scala", "haskell", "perl", "lua", "luau", "julia", "matlab", "fortran",
        "assembly", "sql", "mysql", "postgres", "postgresql", "sqlite", "bash", "shell", "powershell",
        "zsh", "regex", "regexp", "html", "css", "react", "vue", "angular", "svelte", "django", "flask",
        "fastapi", "node", "nodejs", "npm", "pip", "api", "apis", "json", "yaml", "xml", "code", "coding",
        "function", "functions", "method", "methods", "class", "classes", "script", "scripts", "program",
        "programs", "programming", "implement", "implementation", "compile", "compiler", "debug",
        "algorithm", "algorithms", "library", "framework", "database", "schema", "query", "queries",
        "server", "docker", "kubernetes", "linux", "unix", "git", "github", "repository", "frontend",
        "backend", "endpoint", "variable", "variables", "array", "arrays", "loop", "recursion",
        "recursive", "async", "thread", "threads", "pandas", "numpy", "tensorflow", "pytorch", "jax",
        "matplotlib", "vba", "macro", "gui", "webhook", "socket", "http", "https", "url", "ssh", "nginx",
        "aws", "azure", "terraform", "cron", "systemd", "nix", "deploy", "unittest", "pytest", "snippet",
        "dataframe", "parser", "struct", "pointer", "integer", "boolean", "runtime", "exception",
        "stack trace", "command line", "source code", "data structure", "time complexity", "big o",
        "dotnet", "excel formula", "spreadsheet formula", "web app", "rest api",
    ),
    "math": (
        "equation", "equations", "solve", "calculate", "calculation", "compute", "derivative",
        "derivatives", "integral", "integrals", "integrate", "probability", "probabilities", "expected value",
        "variance", "standard deviation", "theorem", "prove", "proof", "lemma", "polynomial", "matrix",
        "matrices", "vector", "vectors", "prime", "primes", "divisible", "remainder", "modulo",
        "factorial", "sqrt", "square root", "logarithm", "exponent", "fraction", "fractions", "percent",
        "percentage", "ratio", "geometry", "triangle", "circle", "radius", "diameter", "area", "perimeter",
        "volume", "angle", "sin", "cos", "tan", "theta", "inequality", "integers", "rational",
        "irrational", "converge", "series", "digits", "how many", "how much", "total", "average",
        "sum of", "product of", "minimum", "maximum", "optimal", "real numbers", "complex numbers",
        "combinatorics", "permutation", "permutations", "combinations", "statistics", "statistical",
        "regression", "algebra", "calculus", "arithmetic", "mod", "gcd", "lcm", "exponential",
        "quadratic", "cubic", "coordinate", "coordinates", "graph theory", "interest rate",
    ),
    "reasoning": (
        "puzzle", "riddle", "logic", "logical", "deduce", "deduction", "infer", "must be", "could be",
        "which of the following", "if and only if", "paradox", "constraint", "constraints", "exactly",
        "at least", "at most", "neither", "unless", "assume", "suppose", "hypothetical", "counterexample",
        "contradiction", "implies", "therefore", "scenario", "trade offs", "tradeoffs", "pros and cons",
        "step by step", "explain why", "reasoning",
    ),
    "expert": (
        "architecture", "security", "vulnerability", "encryption", "network", "protocol", "latency",
        "scalability", "distributed", "consensus", "machine learning", "deep learning", "neural",
        "gradient", "transformer", "llm", "gpu", "cuda", "quantum", "physics", "chemistry",
        "thermodynamics", "econometric", "clinical", "diagnosis", "legal", "compliance", "iso",
        "portfolio", "options trading", "strategy", "optimize", "optimization", "performance",
        "simulation", "model", "models", "framework", "requirements", "specification", "engineering",
        "technical", "hardware", "firmware", "kernel", "cryptography", "blockchain", "forecast model",
        "business plan", "go to", "market strategy", "best practices", "research", "analysis", "analyze",
        "evaluate", "design", "plan",
    ),
    "writing": (
        "essay", "poem", "poems", "story", "stories", "blog", "email", "letter", "tweet", "slogan",
        "caption", "headline", "haiku", "joke", "jokes", "compose", "describe", "rewrite", "paraphrase",
        "rephrase", "translate", "translation", "limerick", "lyrics", "speech", "toast", "greeting",
        "invitation", "advertisement", "product description", "cover letter", "thank you",
    ),
    "simple": (
        "classify", "category", "categories", "categorize", "sentiment", "positive", "negative",
        "label", "extract", "choose", "options", "pick", "title", "summary", "summarize", "summarise",
        "tldr", "yes or no", "true or false", "identify", "answer the question", "the following text",
        "the passage", "the article", "the review", "the sentence", "the dialogue", "the conversation",
        "the text above", "the document above", "the article above", "the passage above",
        "keywords", "named entities", "list the", "what is", "who is", "who was", "when did", "where is",
        "define", "definition", "meaning of", "synonym", "antonym", "spell", "fill in",
    ),
    "assistant": (
        "play", "playlist", "song", "songs", "music", "album", "artist", "book a", "reserve",
        "reservation", "restaurant", "table for", "weather", "forecast", "temperature", "rain", "remind",
        "reminder", "timer", "alarm", "movie", "movies", "showtimes", "cinema", "rate this", "stars",
        "find the", "show me", "add to", "tell me", "recommend", "nearby",
    ),
    "identity": (
        "who are you", "your name", "are you", "what can you", "who made", "who created", "who trained",
        "what are you", "you a", "chatgpt", "gpt", "claude", "assistant",
    ),
}  # fmt: skip
