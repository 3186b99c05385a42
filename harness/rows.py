"""The result rows, declared once: a ``test`` run's results.json and a ``compare`` row.

:class:`TestResult` is the object in a ``test`` run's results.json; :class:`CompareRow`
one element of a compare run's results.json (one line of its results.csv, whose
columns follow the order declared here, :func:`columns`). Each key is documented
where it is declared: what it holds, and its unit. Accuracies are fractions (0.75,
not 75), times seconds unless the key says ``_ms``, memory MiB.

Every key is optional to the type checker (``total=False``): the writers build a
row piece by piece. The keys marked ``Annotated[..., ALWAYS]`` are in every such
row (in every *measured* compare row, its accuracy keys where accuracy was
measured: a failed model's row holds ``model``, ``error`` and perhaps ``log``
only); :func:`always` lists them, and the tests check real rows against both:
no key undeclared, no ALWAYS key missing.

A leaf: it imports nothing of the harness, so every layer can use the rows.
"""

from __future__ import annotations

from typing import Annotated, Any, TypedDict, TypeVar, get_type_hints

ALWAYS = "always"  # Annotated mark: the key is in every row of its kind

Interval = list[float]  # a 95% Wilson score interval, [low, high], fractions


class Skipped(TypedDict):
    """A file passed over, before or at decoding."""

    file: str  # its path, as listed
    reason: str  # why, in words


class Counts(TypedDict, total=False):
    """How many images were evaluated and counted right: a test run's and a compare row's."""

    n: Annotated[int, ALWAYS]  # images evaluated (labelled or not)
    labelled: Annotated[int, ALWAYS]  # of them with a label: accuracy's denominator
    correct1: Annotated[int, ALWAYS]  # labelled images whose top-1 class is (under) the label
    correct5: Annotated[int, ALWAYS]  # ... whose top-5 holds a class (under) the label


class Intervals(TypedDict, total=False):
    """Precision and calibration of the accuracy (``measure.stats.summary``); None: n/a."""

    top1_ci95: Annotated[Interval | None, ALWAYS]  # 95% interval of top1
    top5_ci95: Annotated[Interval | None, ALWAYS]  # 95% interval of top5
    ece: Annotated[float | None, ALWAYS]  # expected calibration error of top-1, 15 bins, 0-1


class WordScores(TypedDict, total=False):
    """Where labels are words (``labels.resolve``): accuracy among the labels themselves."""

    correct_among_labels: int  # images whose most probable label (summed classes) is theirs
    top1_among_labels: float | None  # correct_among_labels / labelled; None: n/a
    top1_among_labels_ci95: Interval | None  # its 95% interval
    ece_among_labels: float | None  # ECE of the label's summed probability, 15 bins
    among_labels_note: str  # why top1_among_labels is n/a (one label only)
    label_map: dict[str, dict[str, Any]]  # label -> its wnid, words and classes (index, name)


class LabelIssues(TypedDict, total=False):
    """Likely label errors (confident learning, ``engine.trust``) in a ``test`` run."""

    label_issues: int  # photos that may be mislabelled (label_issues.csv)
    correct1_label_issues_aside: int  # correct1 with those photos set aside
    labelled_label_issues_aside: int  # labelled with those photos set aside
    top1_label_issues_aside: float | None  # their quotient; None: no photo left


class CalibrationRecord(TypedDict):
    """The photos an int8 model is calibrated on (``data.selection.calibration_record``)."""

    count: int  # how many
    seed: int  # --seed they were drawn with
    source: str  # --calibration-data, or "the data" (then set aside from the evaluation)
    excluded_from_evaluation: bool  # set aside from the data: no model is evaluated on them
    files: list[str]  # their paths, relative to the folder
    unreadable: list[str]  # "name: reason" of those that could not be read


class Chosen(TypedDict, total=False):
    """Which images a run took (``data.selection.choose``)."""

    limit: Annotated[int | None, ALWAYS]  # --limit
    sample: Annotated[int | None, ALWAYS]  # --sample
    seed: Annotated[int, ALWAYS]  # --seed (of --sample)
    selection: Annotated[str, ALWAYS]  # which images were taken, in words
    calibration: CalibrationRecord  # int8's calibration photos (int8, or set aside for one)


class TestResult(Chosen, Counts, Intervals, WordScores, LabelIssues, total=False):
    """results.json of ``harness test`` (the keys of the bases too; the file's order is
    the writer's, ``engine.results.summarise``).
    """

    # what was run on what
    model: Annotated[str, ALWAYS]  # the model's name as given (timm/ARCH, NAME@RUNTIME)
    weights: Annotated[str, ALWAYS]  # where the weights came from: a file, a tag, "none"
    random_weights: Annotated[bool, ALWAYS]  # random (untrained) weights: accuracy n/a
    preprocessing: Annotated[dict[str, Any], ALWAYS]  # resize, crop, interpolation, mean/std
    classes: Annotated[str | None, ALWAYS]  # the --classes file; None: the weights' own
    data: Annotated[str, ALWAYS]  # the --data folder
    labels: Annotated[str | None, ALWAYS]  # the --labels file; None: none given
    layout: Annotated[str, ALWAYS]  # where the labels came from, in words
    # accuracy
    top1: Annotated[float | None, ALWAYS]  # correct1 / labelled; None: n/a (accuracy_note)
    top5: Annotated[float | None, ALWAYS]  # correct5 / labelled; None: n/a
    accuracy_note: Annotated[str, ALWAYS]  # what the accuracy is over, or why it is n/a
    skipped: Annotated[list[Skipped], ALWAYS]  # files passed over, not counted
    notes: Annotated[list[str], ALWAYS]  # what the run wants a reader to know
    # how it ran
    precision: Annotated[str, ALWAYS]  # Lightning's precision, resolved (32-true, bf16-mixed)
    accelerator: Annotated[str, ALWAYS]  # cpu, cuda, mps
    devices: Annotated[int, ALWAYS]  # processes in all (= world_size)
    world_size: Annotated[int, ALWAYS]  # processes in all
    num_nodes: Annotated[int, ALWAYS]  # machines
    devices_per_node: Annotated[int, ALWAYS]  # processes per machine
    batch_size: Annotated[int, ALWAYS]  # images per batch, as last tried (out of memory: less)
    threads: Annotated[int, ALWAYS]  # torch threads of a process
    decode: Annotated[str, ALWAYS]  # exact or fast (--decode)
    draft_side: Annotated[int | None, ALWAYS]  # JPEG draft mode's smallest side, pixels
    max_pixels: Annotated[int | None, ALWAYS]  # largest image accepted, pixels
    seconds: Annotated[float, ALWAYS]  # the run's wall time, start to end
    images_per_second: Annotated[float | None, ALWAYS]  # n / seconds
    loop_seconds: Annotated[float | None, ALWAYS]  # from the first batch on
    runtime: Annotated[str, ALWAYS]  # torch, compile, onnxruntime, openvino
    export: Annotated[dict[str, Any] | None, ALWAYS]  # an exported runtime's set-up
    # the record
    started: Annotated[str, ALWAYS]  # when, "YYYY-MM-DD HH:MM:SS TZ"
    environment: Annotated[dict[str, Any], ALWAYS]  # machine and library versions
    run_dir: Annotated[str, ALWAYS]  # the folder of the run's files


class _Measured(TypedDict, total=False):
    """A compare row's first keys: the model, its published figures, weights and runtime."""

    model: Annotated[str, ALWAYS]  # as given in --models (NAME, NAME=FILE, NAME@RUNTIME)
    architecture: Annotated[str, ALWAYS]  # the architecture's name
    top1: Annotated[float | None, ALWAYS]  # measured top-1; None: n/a (accuracy_note)
    top5: Annotated[float | None, ALWAYS]  # measured top-5; None: n/a
    # the library's published figures for its default weights (zoo.published); None: none
    published_top1: Annotated[float | None, ALWAYS]  # ImageNet-1k validation top-1
    published_top5: Annotated[float | None, ALWAYS]  # ImageNet-1k validation top-5
    published_real_top1: Annotated[float | None, ALWAYS]  # ImageNet ReaL labels
    published_v2_top1: Annotated[float | None, ALWAYS]  # ImageNet-V2 matched frequency
    published_sketch_top1: Annotated[float | None, ALWAYS]  # ImageNet-Sketch
    published_r_top1: Annotated[float | None, ALWAYS]  # ImageNet-R
    published_a_top1: Annotated[float | None, ALWAYS]  # ImageNet-A
    published_size: Annotated[int | None, ALWAYS]  # the input size of those figures, pixels
    published_ips_i7_12700h: Annotated[float | None, ALWAYS]  # images/s on that machine
    published_batch_i7_12700h: Annotated[int | None, ALWAYS]  # at this batch size
    published_ips_i9_10940x: Annotated[float | None, ALWAYS]
    published_batch_i9_10940x: Annotated[int | None, ALWAYS]
    published_ips_rtx3090: Annotated[float | None, ALWAYS]
    published_batch_rtx3090: Annotated[int | None, ALWAYS]
    published_ips_rtx4090: Annotated[float | None, ALWAYS]
    published_batch_rtx4090: Annotated[int | None, ALWAYS]
    published_ips_rtx5090: Annotated[float | None, ALWAYS]
    published_batch_rtx5090: Annotated[int | None, ALWAYS]
    published_source: Annotated[str | None, ALWAYS]  # where the figures come from
    published_missing: str  # why timm's tables have no figures for these weights
    published_weights: Annotated[str | None, ALWAYS]  # the weights they are for
    published_note: str  # a file of one's own: the figures are for the library's weights
    # the weights and the runtime
    weights: Annotated[str, ALWAYS]  # where the weights came from: a file, a tag, "none"
    random_weights: Annotated[bool, ALWAYS]  # random weights: accuracy n/a
    accuracy_note: Annotated[str | None, ALWAYS]  # what the accuracy is over, or why n/a
    size_mib: Annotated[float | None, ALWAYS]  # the weights file (an exported one: its file)
    calibration: CalibrationRecord  # int8's calibration photos (int8 rows; all, if set aside)
    runtime: Annotated[str, ALWAYS]  # torch, compile, onnxruntime, openvino
    first_answer_seconds: Annotated[float, ALWAYS]  # from the built model to its first answer
    # an exported runtime's session (engine.exported.Setup)
    runs_in: str  # the precision the runtime says it runs in
    version: str  # the runtime's version
    onnx_file: str  # the ONNX file it loads
    model_file_mib: float  # that file's size
    export_cached: bool  # the file was in the cache (no export in this run)
    export_seconds: float  # the export's time (0 when cached)
    compile_seconds: float  # the runtime's compile time


class _Skipped(TypedDict, total=False):
    skipped: Annotated[list[Skipped], ALWAYS]  # files passed over (results.csv: their number)


class CompareRow(_Measured, Counts, _Skipped, Intervals, WordScores, total=False):
    """One model's row of ``harness compare``: results.json, and results.csv in this
    order (:func:`columns`): the bases' keys, then the ones below. Counts and Intervals
    are there where accuracy was measured (labels, real weights); skipped wherever photos
    were read (an accuracy run's list, or else the end-to-end pass's).

    ALWAYS: in every measured row; a failed one holds ``model``, ``error``, maybe ``log``.
    """

    # speed: batch-1 latency after warm-up, and throughput (measure.speed)
    latency_ms_p50: Annotated[float, ALWAYS]  # median, milliseconds per image
    latency_ms_p90: Annotated[float, ALWAYS]
    latency_ms_p99: Annotated[float, ALWAYS]
    latency_ms_mean: Annotated[float, ALWAYS]
    latency_ms_min: Annotated[float, ALWAYS]
    latency_runs: Annotated[int, ALWAYS]  # timed batches
    throughput_ips: Annotated[float, ALWAYS]  # images/s of the model alone, at batch_size
    throughput_e2e_ips: float  # images/s from files to predictions (with --data)
    throughput_e2e_steady_ips: float | None  # the same once each loader worker gave a batch
    decode: str  # exact or fast, for the end-to-end figure
    loader_workers: int  # the end-to-end pass's loader worker processes (0: in the process)
    decode_ips: float  # images/s of one worker's own work on the run's photos, one thread
    e2e_session_options: dict[str, str]  # an exported runtime's settings for the e2e pass
    core_bound_ips: float  # the most the cores allow end to end (measure.bound.core_bound)
    e2e_of_bound: float | None  # throughput_e2e_steady_ips / core_bound_ips (None: no steady)
    # the machine while it was timed (measure.conditions)
    threads: Annotated[int, ALWAYS]  # torch threads
    cores: Annotated[int, ALWAYS]  # CPU cores the process may use
    load_before: Annotated[float | None, ALWAYS]  # 1-minute load average
    load_after: Annotated[float | None, ALWAYS]
    runnable_before: Annotated[int | None, ALWAYS]  # other runnable threads
    runnable_after: Annotated[int | None, ALWAYS]
    runnable_during: Annotated[float | None, ALWAYS]  # their mean during the timing
    spread: Annotated[float | None, ALWAYS]  # latency p90 / p50
    noisy: Annotated[bool, ALWAYS]  # the timings are not to be trusted
    noisy_reasons: Annotated[list[str], ALWAYS]  # why, in words
    # memory
    peak_memory_mib: Annotated[float, ALWAYS]  # the process's peak resident memory
    memory_rise_mib: Annotated[float, ALWAYS]  # over the process after its imports
    baseline_memory_mib: Annotated[float, ALWAYS]  # the process after its imports
    gpu_max_allocated_mib: float  # CUDA: torch's peak allocated
    gpu_max_reserved_mib: float  # CUDA: torch's peak reserved
    # size and set-up
    params: Annotated[int, ALWAYS]  # parameters
    flops: Annotated[int | None, ALWAYS]  # per image, 2 per multiply-accumulate
    image_size: Annotated[int, ALWAYS]  # input side, pixels
    device: Annotated[str, ALWAYS]  # torch device: cpu, cuda:0
    precision: Annotated[str, ALWAYS]  # Lightning's precision, resolved
    batch_size: Annotated[int, ALWAYS]  # of the throughput and accuracy runs
    dataset: Annotated[str | None, ALWAYS]  # what the weights were trained on
    classes: Annotated[int, ALWAYS]  # how many classes the model predicts
    label_space: Annotated[str | None, ALWAYS]  # a hash of its classes' WordNet ids, in order
    preprocessing: Annotated[dict[str, Any], ALWAYS]  # resize, crop, interpolation, mean/std
    error: Annotated[str | None, ALWAYS]  # why the model failed; None: it did not
    log: str  # a failed child's log file
    # --repeat K > 1 (measure.conditions.combine): timings are medians of the runs
    latency_ms_p50_range: list[float]  # [fastest, slowest] run
    latency_ms_p90_range: list[float]
    latency_ms_p99_range: list[float]
    latency_ms_mean_range: list[float]
    latency_ms_min_range: list[float]
    throughput_ips_range: list[float]
    throughput_e2e_ips_range: list[float]
    throughput_e2e_steady_ips_range: list[float]
    decode_ips_range: list[float]  # core_bound_ips, e2e_of_bound: of the medians
    repeat: int  # runs that succeeded
    noisy_runs: int  # of them noisy
    failed_runs: list[str]  # the errors of the runs that failed
    runs: list[dict[str, Any]]  # each run's timings and conditions
    # parity against torch fp32 (compare.parity), rows in another runtime or precision
    parity_n: int  # images both answered
    agree_top1: int  # of them with the same top-1 class
    agree_top5: int  # with the same set of five classes
    max_top1_prob_diff: float | None  # largest difference of the top-1 probabilities
    parity_labelled: int  # images both answered that are labelled
    right_to_wrong: int  # labelled images turned wrong
    wrong_to_right: int  # ... turned right
    parity_p: float | None  # exact McNemar p of those two; None: no labels
    parity_reference: str  # the torch fp32 answers compared with
    parity_flag: bool  # fp32 answers changed on over 0.5%: a likely defect
    parity_note: str  # why there are no parity figures


T = TypeVar("T")


def known(value: T | None) -> T:
    """A row's ``value`` where the row is of a kind that has it (a measured accuracy's
    ``ece``, say): for the type checker, which cannot tell the kinds apart.

    >>> known(0.5)
    0.5
    """
    if value is None:
        raise ValueError("a value this row should hold is missing")
    return value


def columns(row: type) -> tuple[str, ...]:
    """The keys of a row type in declared order (its bases' first): results.csv's columns.

    >>> columns(Counts)
    ('n', 'labelled', 'correct1', 'correct5')
    """
    return tuple(get_type_hints(row))


ACCURACY = (Counts, _Skipped, Intervals)  # a compare row's keys where accuracy was measured


def always(row: type, accuracy: bool = True) -> frozenset[str]:
    """The keys of ``row`` marked ALWAYS: in every row of its kind (a measured one).

    ``accuracy=False``: of a compare row whose accuracy was not measured (random
    weights, no labels), without the ``ACCURACY`` keys.
    """
    hints = get_type_hints(row, include_extras=True)
    marked = {k for k, t in hints.items() if ALWAYS in getattr(t, "__metadata__", ())}
    return frozenset(marked if accuracy else marked - {k for b in ACCURACY for k in columns(b)})
