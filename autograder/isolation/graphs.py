"""Checking the graphs a student's process exported, before anything runs them.

Runs in the measuring process (which imports no student code). A SavedModel written by
the student's process is untrusted: it is copied into a clean folder keeping only what
TensorFlow 2 needs to load it (the object graph, the functions it can reach, the
variables' values), and refused unless every operation in those functions is on the
allow-list below: math, neural-network, random, variable and control-flow operations (and their
gradients).
Nothing that reads or writes files, runs Python or talks to the system can be loaded.

Each endpoint is loaded on its own, and an endpoint that has no reason to draw random
numbers (an encoder, a decoder, a loss) must be a pure function of its inputs: none of
the STATEFUL operations below (variable writes, random generators and their state, new
variables) may be reachable from it, so no value can pass from one call to the next.
Endpoints that sample (reparameterize, call) may draw, on their own loaded copy only.
"""
import shutil
from pathlib import Path

MAX_GRAPH_BYTES = 200_000_000
MAX_VARIABLE_BYTES = 400_000_000

ALLOWED_OPS = frozenset("""
NoOp Identity IdentityN Const Placeholder PlaceholderWithDefault PartitionedCall StatefulPartitionedCall
If StatelessIf While StatelessWhile Case StatelessCase Switch Merge Enter Exit NextIteration LoopCond
StopGradient PreventGradient CheckNumerics CheckNumericsV2 Assert EnsureShape Snapshot
VarHandleOp ReadVariableOp AssignVariableOp AssignAddVariableOp AssignSubVariableOp VarIsInitializedOp
ResourceGather VariableShape
Add AddV2 AddN Sub Mul MulNoNan Div DivNoNan RealDiv FloorDiv FloorMod Mod TruncateDiv TruncateMod
Neg Abs Sign Square Sqrt Rsqrt Reciprocal Inv Exp Expm1 Log Log1p Pow Maximum Minimum SquaredDifference
Floor Ceil Round Rint Sin Cos Tan Tanh Sinh Cosh Asin Acos Atan Atan2 Asinh Acosh Atanh
Sigmoid Softplus Softsign Elu Selu Relu Relu6 LeakyRelu Gelu Erf Erfc Erfinv Lgamma Digamma
IsNan IsInf IsFinite ClipByValue Xlogy Xdivy Xlog1py
BiasAdd BiasAddV1 MatMul BatchMatMul BatchMatMulV2 BatchMatMulV3 Einsum Cumsum Cumprod
Softmax LogSoftmax L2Loss Conv2D Conv2DBackpropInput Conv3D Conv3DBackpropInputV2 DepthwiseConv2dNative
MaxPool MaxPoolV2 AvgPool MaxPool3D AvgPool3D FusedBatchNorm FusedBatchNormV2 FusedBatchNormV3
ResizeBilinear ResizeNearestNeighbor ResizeBicubic ResizeArea
Equal NotEqual Less LessEqual Greater GreaterEqual LogicalAnd LogicalOr LogicalNot Select SelectV2
Where ArgMax ArgMin TopKV2
Sum Mean Max Min Prod All Any EuclideanNorm
Shape ShapeN Size Rank Reshape ExpandDims Squeeze Transpose ConcatV2 Concat Pack Unpack Split SplitV
Slice StridedSlice Tile Pad PadV2 MirrorPad Fill ZerosLike OnesLike Range LinSpace Cast Bitcast
BroadcastTo BroadcastArgs BroadcastGradientArgs GatherV2 Gather GatherNd ScatterNd TensorScatterUpdate
TensorScatterAdd OneHot ReverseV2 Roll DepthToSpace SpaceToDepth MatrixBandPart MatrixDiagV3
MatrixDiagPartV3 SegmentSum UnsortedSegmentSum InvertPermutation
SelfAdjointEigV2 Svd Qr Cholesky MatrixInverse MatrixSolve MatrixDeterminant Ndtri
BitwiseAnd BitwiseOr BitwiseXor Invert LeftShift RightShift Bincount DenseBincount Unique UniqueV2
DynamicPartition DynamicStitch SegmentMean SegmentMax SegmentMin SegmentProd UnsortedSegmentMax
UnsortedSegmentMin UnsortedSegmentProd
TensorListReserve TensorListSetItem TensorListGetItem TensorListStack TensorListFromTensor TensorListLength
TensorListElementShape TensorListPushBack TensorListPopBack TensorListConcatV2 TensorListGather
RandomStandardNormal RandomUniform RandomUniformInt TruncatedNormal Multinomial
StatelessRandomNormal StatelessRandomNormalV2 StatelessRandomUniform StatelessRandomUniformV2
StatelessRandomUniformInt StatelessRandomUniformIntV2 StatelessTruncatedNormal StatelessTruncatedNormalV2
StatelessRandomGetKeyCounter StatelessRandomGetKeyCounterAlg StatelessRandomGetAlg StatelessMultinomial
RngReadAndSkip RngSkip StatefulStandardNormalV2 StatefulUniform StatefulUniformInt StatefulTruncatedNormal
StringFormat AsString PrintV2
TanhGrad SigmoidGrad SoftplusGrad SoftsignGrad ReluGrad Relu6Grad EluGrad SeluGrad LeakyReluGrad GeluGrad
SqrtGrad RsqrtGrad ReciprocalGrad InvGrad BiasAddGrad StridedSliceGrad ConcatOffset Conv2DBackpropFilter
MaxPoolGrad AvgPoolGrad FusedBatchNormGradV3 EmptyTensorList
""".split())  # the last lines: the gradients of the ops above (svi takes gradient steps inside its graph)
# What can carry a value from one call to the next: writing a variable, a generator's state
# (tf.random.Generator, and Keras' seed generators through the writes), a random kernel's
# hidden state (it advances with every draw, by an amount the graph can choose).
WRITES = frozenset("AssignVariableOp AssignAddVariableOp AssignSubVariableOp".split())
STATEFUL = WRITES | frozenset("""
RngReadAndSkip RngSkip StatefulStandardNormalV2 StatefulUniform StatefulUniformInt StatefulTruncatedNormal
RandomStandardNormal RandomUniform RandomUniformInt TruncatedNormal Multinomial
""".split())
ANYWHERE_REFUSED = frozenset({"VarHandleOp"})  # a variable made inside a function is shared by name across loads
PRINT_STREAMS = {b"", b"stderr", b"stdout", b"log(info)", b"log(warning)", b"log(error)"}  # b"": the default (stderr), stripped on saving


class Refused(Exception):
    """The exported graphs cannot be loaded; the message says why, for the student."""


def called_functions(function):
    """Names of the functions a FunctionDef calls (as an op, or through a function attribute)."""
    names = set()
    for node in function.node_def:
        names.add(node.op)
        for value in node.attr.values():
            if value.HasField("func"):
                names.add(value.func.name)
            names.update(f.name for f in value.list.func)
    return names


def roots(object_graph):
    """The functions the loaded objects refer to: where execution can start."""
    names = set(object_graph.concrete_functions)
    for node in object_graph.nodes:
        kind = node.WhichOneof("kind")
        if kind == "function":
            names.update(node.function.concrete_functions)
        elif kind == "bare_concrete_function":
            names.add(node.bare_concrete_function.concrete_function_name)
        elif kind == "asset" or node.saveable_objects or node.registered_saver:
            raise Refused("the exported model holds a file asset or a custom saver; only plain "
                          "TensorFlow variables and functions can be graded")
    return names


def reachable_from(library, names):
    """The functions of `library` that `names` reach (themselves included)."""
    reachable, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name in library and name not in reachable:
            reachable.add(name)
            todo.extend(called_functions(library[name]))
    return reachable


def endpoint_functions(object_graph, endpoint):
    """The concrete functions of the root object's attribute `endpoint`. Raises Refused."""
    for child in object_graph.nodes[0].children:
        if child.local_name == endpoint:
            node = object_graph.nodes[child.node_id]
            if node.WhichOneof("kind") == "function":
                return list(node.function.concrete_functions)
    raise Refused(f"the exported graph has no function '{endpoint}'")


def refused_operations(functions, stateless):
    """The operations of `functions` (FunctionDefs) that may not run; with `stateless`, the
    ones that could keep a value between calls too."""
    refused = set()
    for function in functions:
        for node in function.node_def:
            if node.op in ANYWHERE_REFUSED or node.op not in ALLOWED_OPS:
                refused.add(node.op)
            elif stateless and node.op in STATEFUL:
                refused.add(node.op)
            elif node.op == "PrintV2" and node.attr["output_stream"].s not in PRINT_STREAMS:
                refused.add("PrintV2 to a file")
    return refused


def clean_copy(source, target, endpoint=None, draws=False):
    """Copy the SavedModel folder `source` to `target`, keeping only the functions that its
    objects can reach, after checking every operation in them; with `endpoint`, that
    endpoint must exist and, unless it `draws` random numbers, be stateless. Raises Refused."""
    from tensorflow.core.protobuf import saved_model_pb2

    source, target = Path(source), Path(target)
    graph_file = source / "saved_model.pb"
    if not graph_file.is_file() or graph_file.is_symlink() or graph_file.stat().st_size > MAX_GRAPH_BYTES:
        raise Refused("no usable exported graph was found")
    model = saved_model_pb2.SavedModel()
    try:
        model.ParseFromString(graph_file.read_bytes())
    except Exception as error:  # noqa: BLE001 - a malformed file is no graph
        raise Refused(f"the exported graph could not be read ({type(error).__name__})") from None
    if len(model.meta_graphs) != 1:
        raise Refused("the exported graph has an unexpected layout")
    meta = model.meta_graphs[0]
    library = {f.signature.name: f for f in meta.graph_def.library.function}
    reachable = reachable_from(library, roots(meta.object_graph_def))
    called = lambda names: [library[name] for name in names]  # noqa: E731
    refused = {op for op in refused_operations(called(reachable), False) if op not in library}
    if refused:
        raise Refused(f"your code uses operations the grader does not run: {', '.join(sorted(refused))}. "
                      "Use TensorFlow math and Keras layers only (no file access, no tf.py_function)")
    if endpoint is not None:
        own = reachable_from(library, endpoint_functions(meta.object_graph_def, endpoint))
        refused = {op for op in refused_operations(called(own), not draws) if op not in library}
        if refused:
            raise Refused(f"'{endpoint}' keeps state between calls ({', '.join(sorted(refused))}): it must "
                          "compute its outputs from its inputs alone (no random numbers, no variable "
                          "updates). Random draws belong in reparameterize.")
    kept = [library[name] for name in sorted(reachable)]
    del meta.graph_def.library.function[:]
    meta.graph_def.library.function.extend(kept)
    # Of the TensorFlow 1 graph (its saver included) TensorFlow 2 needs only the constants
    # that the functions captured (a fixed tensor in the student's code, say).
    constants = {node.constant.operation for node in meta.object_graph_def.nodes if node.WhichOneof("kind") == "constant"}
    nodes = [node for node in meta.graph_def.node if node.name in constants and node.op == "Const"]
    del meta.graph_def.node[:]
    meta.graph_def.node.extend(nodes)
    meta.ClearField("saver_def")
    meta.ClearField("signature_def")
    (target / "variables").mkdir(parents=True)
    (target / "saved_model.pb").write_bytes(model.SerializeToString())
    total = 0
    for name in ("variables", "debug"):
        folder = source / name
        if not folder.is_dir() or folder.is_symlink():
            continue
        (target / name).mkdir(exist_ok=True)
        for path in folder.iterdir():
            if path.is_symlink() or not path.is_file():
                continue
            total += path.stat().st_size
            if total > MAX_VARIABLE_BYTES:
                raise Refused("the exported variables are too large")
            shutil.copyfile(path, target / name / path.name)


def source_lines(folder):
    """{node name: (file, line, function)}: where in the student's files (a path with a
    /submission/ folder) each operation of the SavedModel at `folder` was made, from the
    debug information saved with it ({} if there is none)."""
    from tensorflow.core.framework import graph_debug_info_pb2

    path = Path(folder) / "debug" / "saved_model_debug_info.pb"
    try:
        info = graph_debug_info_pb2.GraphDebugInfo.FromString(path.read_bytes())
    except Exception:  # noqa: BLE001 - no or malformed debug information: no lines
        return {}
    traces = {name: list(info.traces_by_id[k].file_line_cols) + [info.frames_by_id[f] for f in info.traces_by_id[k].frame_id]
              for name, k in info.name_to_trace_id.items() if k in info.traces_by_id}
    traces.update({name: list(trace.file_line_cols) for name, trace in info.traces.items()})
    lines = {}
    for name, frames in traces.items():
        own = [f for f in frames if f.file_index < len(info.files) and "/submission/" in info.files[f.file_index]]
        if own:
            lines.setdefault(name.split("@")[0], (Path(info.files[own[-1].file_index]).name, own[-1].line, own[-1].func))
    return lines


def load(source, target, endpoint=None, draws=False):
    """The loaded SavedModel at `source`, after clean_copy() into `target`. Raises Refused."""
    import tensorflow as tf

    clean_copy(source, target, endpoint, draws)
    try:
        return tf.saved_model.load(str(target))
    except Exception as error:  # noqa: BLE001
        raise Refused(f"the exported graph could not be loaded: {type(error).__name__}: "
                      f"{str(error).splitlines()[0] if str(error) else ''}") from None
