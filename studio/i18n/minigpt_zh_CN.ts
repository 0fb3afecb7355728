<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_CN">
<context>
    <name></name>
    <message>
        <source>about {0} seconds</source>
        <translation>约 {0} 秒</translation>
    </message>
    <message>
        <source>about {0} minutes</source>
        <translation>约 {0} 分钟</translation>
    </message>
    <message>
        <source>about {0} hours</source>
        <translation>约 {0} 小时</translation>
    </message>
    <message>
        <source>about {0} days</source>
        <translation>约 {0} 天</translation>
    </message>
    <message>
        <source>{0} has</source>
        <translation>{0} 只有</translation>
    </message>
    <message>
        <source>this machine has</source>
        <translation>本机只有</translation>
    </message>
    <message>
        <source>needs about {0} of memory but {1} {2}: lower run.batch_size or data.seq_len, turn on hardware.grad_checkpointing, or pick a smaller preset</source>
        <translation>需要约 {0} 内存，但{1} {2}：调小 run.batch_size 或 data.seq_len，打开 hardware.grad_checkpointing，或换一个更小的预设</translation>
    </message>
    <message>
        <source>measuring this machine&apos;s speed…</source>
        <translation>正在测量本机速度…</translation>
    </message>
    <message>
        <source>unknown ({0})</source>
        <translation>未知（{0}）</translation>
    </message>
    <message>
        <source>unknown until the hardware is detected</source>
        <translation>检测到硬件之前无法估计</translation>
    </message>
    <message>
        <source>~{0} tokens/s from a speed probe of the {1} preset on {2}, {3}</source>
        <translation>约 {0} token/秒，由 {1} 预设在 {2}、{3} 下测速得出</translation>
    </message>
    <message>
        <source>{0} of training on this device: fewer run.max_steps, a smaller preset or a faster device would finish sooner</source>
        <translation>在这台设备上要训练{0}：减少 run.max_steps、换更小的预设或更快的设备能更早完成</translation>
    </message>
    <message>
        <source>{0} tokens</source>
        <translation>{0} 个 token</translation>
    </message>
    <message>
        <source>first token {0:.0f} ms</source>
        <translation>首 token {0:.0f} 毫秒</translation>
    </message>
    <message>
        <source>Runs are still training</source>
        <translation>仍有运行在训练</translation>
    </message>
    <message>
        <source>%n run(s) still training.</source>
        <translation>还有 %n 个运行在训练。</translation>
    </message>
    <message>
        <source>Stop and save: each run saves a checkpoint and exits (you can resume it later).
Keep running: training goes on without the studio; reopen it from Runs.</source>
        <translation>停止并保存：每个运行保存一个检查点后退出（之后可以继续）。
继续运行：训练在后台继续，不依赖 Studio；之后可从“运行”页重新打开。</translation>
    </message>
    <message>
        <source>Stop and save</source>
        <translation>停止并保存</translation>
    </message>
    <message>
        <source>Keep running in background</source>
        <translation>在后台继续运行</translation>
    </message>
    <message>
        <source>Parameters</source>
        <translation>参数量</translation>
    </message>
    <message>
        <source>  without embeddings</source>
        <translation>  不含嵌入</translation>
    </message>
    <message>
        <source>  active per token</source>
        <translation>  每个 token 激活的参数</translation>
    </message>
    <message>
        <source>  trained (fewer with LoRA)</source>
        <translation>  参与训练的参数（用 LoRA 时更少）</translation>
    </message>
    <message>
        <source>Tokens per step</source>
        <translation>每步 token 数</translation>
    </message>
    <message>
        <source>Tokens in the run</source>
        <translation>整个运行的 token 数</translation>
    </message>
    <message>
        <source>FLOPs per step</source>
        <translation>每步 FLOPs</translation>
    </message>
    <message>
        <source>Training memory (rough)</source>
        <translation>训练内存（粗估）</translation>
    </message>
    <message>
        <source>1 · Data</source>
        <translation>1 · 数据</translation>
    </message>
    <message>
        <source>What the model learns from. The built-in dataset needs no files; or add your own .jsonl / .txt.</source>
        <translation>模型从什么数据中学习。内置数据集无需任何文件；也可以添加你自己的 .jsonl / .txt。</translation>
    </message>
    <message>
        <source>RAM</source>
        <translation>内存</translation>
    </message>
    <message>
        <source>GPU memory</source>
        <translation>显存</translation>
    </message>
    <message>
        <source>the largest micro-batch up to {0} whose step fits in {1} of {2}, tried before the first step</source>
        <translation>不超过 {0}、一步用量不超过{2} {1} 的最大微批次，在第一步之前试出</translation>
    </message>
    <message>
        <source>&lt;b&gt;CPU&lt;/b&gt;: {0}, {1} cores</source>
        <translation>&lt;b&gt;CPU&lt;/b&gt;：{0}，{1} 核</translation>
    </message>
    <message>
        <source> (auto trains in {0} here)</source>
        <translation>（auto 在这里用 {0} 训练）</translation>
    </message>
    <message>
        <source> · &lt;b&gt;RAM&lt;/b&gt;: {0} ({1} free)</source>
        <translation> · &lt;b&gt;内存&lt;/b&gt;：{0}（空闲 {1}）</translation>
    </message>
    <message>
        <source>&lt;b&gt;CUDA&lt;/b&gt;: no NVIDIA GPU found</source>
        <translation>&lt;b&gt;CUDA&lt;/b&gt;：未找到 NVIDIA GPU</translation>
    </message>
    <message>
        <source>&lt;b&gt;Apple GPU (MPS)&lt;/b&gt;: {0}</source>
        <translation>&lt;b&gt;Apple GPU (MPS)&lt;/b&gt;：{0}</translation>
    </message>
    <message>
        <source>available, {0} usable, bf16: {1}</source>
        <translation>可用，可用内存 {0}，bf16：{1}</translation>
    </message>
    <message>
        <source>yes</source>
        <translation>是</translation>
    </message>
    <message>
        <source>no (fp32)</source>
        <translation>否（用 fp32）</translation>
    </message>
    <message>
        <source>not available</source>
        <translation>不可用</translation>
    </message>
    <message>
        <source>&lt;b&gt;Default device&lt;/b&gt;: {0} · engine {1} · torch {2}</source>
        <translation>&lt;b&gt;默认设备&lt;/b&gt;：{0} · 引擎 {1} · torch {2}</translation>
    </message>
    <message>
        <source>on</source>
        <translation>开</translation>
    </message>
    <message>
        <source>off</source>
        <translation>关</translation>
    </message>
    <message>
        <source>for long runs</source>
        <translation>仅长时间运行</translation>
    </message>
    <message>
        <source>&lt;b&gt;What auto picks here&lt;/b&gt;: device {0} ({1}, bf16 {2}) · precision {3} · compile {4}</source>
        <translation>&lt;b&gt;auto 在这台机器上的选择&lt;/b&gt;：设备 {0}（{1}，bf16 {2}）· 精度 {3} · 编译 {4}</translation>
    </message>
    <message>
        <source>no</source>
        <translation>否</translation>
    </message>
    <message>
        <source> · batch size: {0}</source>
        <translation> · 批大小：{0}</translation>
    </message>
    <message>
        <source>compiled</source>
        <translation>编译</translation>
    </message>
    <message>
        <source>not compiled</source>
        <translation>不编译</translation>
    </message>
    <message>
        <source>&lt;b&gt;torch.compile (auto)&lt;/b&gt;: {0}. This run plans {1:.1e} FLOPs; on a CPU auto compiles runs of at least {2:.0e}, where the faster steps repay the compile (about a minute, once per model shape)</source>
        <translation>&lt;b&gt;torch.compile（auto）&lt;/b&gt;：{0}。本次运行计划 {1:.1e} FLOPs；在 CPU 上，auto 只编译计划量至少 {2:.0e} FLOPs 的运行，因为更快的训练步能抵回编译所花的时间（约一分钟，每种模型形状一次）</translation>
    </message>
    <message>
        <source>; this shape compiled before in this workspace, so its compile is read back from the cache in seconds, and runs of at least {0:.0e} FLOPs compile</source>
        <translation>；此工作区以前编译过这种形状，编译结果可从缓存中读回，只需几秒，因此计划量至少 {0:.0e} FLOPs 的运行就会编译</translation>
    </message>
    <message>
        <source>4 · Hardware</source>
        <translation>4 · 硬件</translation>
    </message>
    <message>
        <source>Where the run trains and at what precision. Detected by the engine on this machine.</source>
        <translation>在哪里训练、用什么精度。由引擎在本机上检测。</translation>
    </message>
    <message>
        <source>5 · Review and launch</source>
        <translation>5 · 检查并启动</translation>
    </message>
    <message>
        <source>The run as one YAML document. Edit it if you like; it is checked as you type.</source>
        <translation>整个运行就是一份 YAML 文档。可以直接编辑，输入时会实时检查。</translation>
    </message>
    <message>
        <source>3 · Stage and model</source>
        <translation>3 · 阶段与模型</translation>
    </message>
    <message>
        <source>What kind of training, how big a model, and how it learns. Hover any field for what it does.</source>
        <translation>训练什么阶段、模型多大、怎样学习。鼠标悬停在任一字段上可查看说明。</translation>
    </message>
    <message>
        <source>&lt;p&gt;Vocabulary: &lt;b&gt;{0:,}&lt;/b&gt; tokens&lt;/p&gt;</source>
        <translation>&lt;p&gt;词表：&lt;b&gt;{0:,}&lt;/b&gt; 个 token&lt;/p&gt;</translation>
    </message>
    <message>
        <source>&lt;p&gt;&lt;b&gt;{0}&lt;/b&gt; — {1:.2f} characters per token ({2} tokens)</source>
        <translation>&lt;p&gt;&lt;b&gt;{0}&lt;/b&gt; — 每个 token {1:.2f} 个字符（共 {2} 个 token）</translation>
    </message>
    <message>
        <source>2 · Tokenizer</source>
        <translation>2 · 分词器</translation>
    </message>
    <message>
        <source>How text becomes token ids. A byte-level BPE tokenizer is trained on your data and cached.</source>
        <translation>文本如何变成 token id。在你的数据上训练一个字节级 BPE 分词器，并缓存起来。</translation>
    </message>
    <message>
        <source>tie: no side preferred (skipped by DPO)</source>
        <translation>平局：两边都不偏好（DPO 会跳过）</translation>
    </message>
    <message>
        <source>chosen</source>
        <translation>选中</translation>
    </message>
    <message>
        <source>rejected</source>
        <translation>拒绝</translation>
    </message>
    <message>
        <source>expected answer:</source>
        <translation>参考答案：</translation>
    </message>
    <message>
        <source>no records to preview</source>
        <translation>没有可预览的记录</translation>
    </message>
    <message>
        <source> Showing the newest {0} of {1} steps.</source>
        <translation> 显示 {1} 步中最新的 {0} 步。</translation>
    </message>
    <message>
        <source>Newest step first; within a step, in the order generated.</source>
        <translation>最新的步在最前；同一步内按生成顺序排列。</translation>
    </message>
    <message>
        <source>(empty)</source>
        <translation>（空）</translation>
    </message>
    <message>
        <source>Prompt:</source>
        <translation>提示：</translation>
    </message>
    <message>
        <source>Step {0:,}</source>
        <translation>第 {0:,} 步</translation>
    </message>
    <message>
        <source>data: {0}</source>
        <translation>数据：{0}</translation>
    </message>
    <message>
        <source>start from: a checkpoint (an SFT run)</source>
        <translation>起点：一个检查点（SFT 运行）</translation>
    </message>
    <message>
        <source>start from: usually a pretrain run</source>
        <translation>起点：通常是一个预训练运行</translation>
    </message>
    <message>
        <source>reward: a rule or a reward-model checkpoint</source>
        <translation>奖励：一条规则或一个奖励模型检查点</translation>
    </message>
    <message>
        <source>teacher: a trained checkpoint with the same tokenizer</source>
        <translation>教师：一个使用相同分词器、已训练好的检查点</translation>
    </message>
</context>
<context>
    <name>ABChatView</name>
    <message>
        <source>preferred</source>
        <translation>偏好</translation>
    </message>
    <message>
        <source>not preferred</source>
        <translation>未偏好</translation>
    </message>
    <message>
        <source>tie</source>
        <translation>平局</translation>
    </message>
    <message>
        <source>Optional system prompt, sent to both sides</source>
        <translation>可选的系统提示，同时发给两边</translation>
    </message>
    <message>
        <source>One prompt for both sides — Enter sends, Shift+Enter adds a line</source>
        <translation>两边共用一个提示 —— Enter 发送，Shift+Enter 换行</translation>
    </message>
    <message>
        <source>Send to both</source>
        <translation>发给两边</translation>
    </message>
    <message>
        <source>Stop</source>
        <translation>停止</translation>
    </message>
    <message>
        <source>New comparison</source>
        <translation>新的比较</translation>
    </message>
    <message>
        <source>◀ &amp;A is better</source>
        <translation>◀ A 更好(&amp;A)</translation>
    </message>
    <message>
        <source>&amp;Tie</source>
        <translation>平局(&amp;T)</translation>
    </message>
    <message>
        <source>&amp;B is better ▶</source>
        <translation>B 更好(&amp;B) ▶</translation>
    </message>
    <message>
        <source>Load a checkpoint on each side (the same one twice compares two sampling settings).</source>
        <translation>在两边各加载一个检查点（两边用同一个，则比较两组采样设置）。</translation>
    </message>
    <message>
        <source>&lt;span style=&apos;color:#d9534f&apos;&gt;Could not write the preference file: {0}&lt;/span&gt; Check that the workspace is writable.</source>
        <translation>&lt;span style=&apos;color:#d9534f&apos;&gt;无法写入偏好文件：{0}&lt;/span&gt; 请检查工作区是否可写。</translation>
    </message>
    <message>
        <source>A preferred</source>
        <translation>偏好 A</translation>
    </message>
    <message>
        <source>B preferred</source>
        <translation>偏好 B</translation>
    </message>
    <message>
        <source>Tie recorded (DPO skips ties)</source>
        <translation>已记录平局（DPO 会跳过平局）</translation>
    </message>
    <message>
        <source>{0} · saved to &lt;code&gt;{1}&lt;/code&gt; · the conversation continues from the preferred reply.</source>
        <translation>{0} · 已保存到 &lt;code&gt;{1}&lt;/code&gt; · 对话从偏好的回复继续。</translation>
    </message>
    <message>
        <source>A server was not ready; the turn cannot be compared.</source>
        <translation>有一边的服务还没就绪，这一轮无法比较。</translation>
    </message>
    <message>
        <source>Both sides are answering…</source>
        <translation>两边正在回答…</translation>
    </message>
    <message>
        <source>A side gave no reply, so there is nothing to compare; send another prompt.</source>
        <translation>有一边没有回复，无法比较；请再发一个提示。</translation>
    </message>
    <message>
        <source>Which reply is better?</source>
        <translation>哪个回复更好？</translation>
    </message>
    <message>
        <source>A reply was cut short; pick anyway, or send another prompt.</source>
        <translation>有一个回复被截断了；仍可选择，或再发一个提示。</translation>
    </message>
    <message>
        <source>New comparison.</source>
        <translation>新的比较。</translation>
    </message>
</context>
<context>
    <name>ABSide</name>
    <message>
        <source>Load</source>
        <translation>加载</translation>
    </message>
    <message>
        <source>No checkpoint loaded.</source>
        <translation>尚未加载检查点。</translation>
    </message>
    <message>
        <source>Model {0}</source>
        <translation>模型 {0}</translation>
    </message>
    <message>
        <source>Sampling {0}</source>
        <translation>采样 {0}</translation>
    </message>
    <message>
        <source>Loading {0}…</source>
        <translation>正在加载 {0}…</translation>
    </message>
    <message>
        <source>step {0}</source>
        <translation>第 {0} 步</translation>
    </message>
    <message>
        <source>&lt;b&gt;Ready&lt;/b&gt;</source>
        <translation>&lt;b&gt;就绪&lt;/b&gt;</translation>
    </message>
</context>
<context>
    <name>AttentionView</name>
    <message>
        <source>Which transformer block&apos;s attention to show (0 = the first)</source>
        <translation>显示哪个 Transformer 块的注意力（0 = 第一个）</translation>
    </message>
    <message>
        <source>One attention head, or the mean of all heads of the layer</source>
        <translation>单个注意力头，或该层所有头的平均</translation>
    </message>
    <message>
        <source>Rows: reply tokens. Columns: the tokens each one could look at.</source>
        <translation>行：回复中的 token。列：每个 token 能看到的 token。</translation>
    </message>
    <message>
        <source>Layer</source>
        <translation>层</translation>
    </message>
    <message>
        <source>Head</source>
        <translation>头</translation>
    </message>
    <message>
        <source>mean of {0} heads</source>
        <translation>{0} 个头的平均</translation>
    </message>
    <message>
        <source>head {0}</source>
        <translation>第 {0} 个头</translation>
    </message>
    <message>
        <source>mean of the heads</source>
        <translation>各头平均</translation>
    </message>
    <message>
        <source>Layer {0}, {1}. Rows: the {2} reply tokens; columns: the tokens each one could look at (brighter = more attention).</source>
        <translation>第 {0} 层，{1}。行：{2} 个回复 token；列：每个 token 能看到的 token（越亮 = 注意力越多）。</translation>
    </message>
</context>
<context>
    <name>Bubble</name>
    <message>
        <source>You</source>
        <translation>你</translation>
    </message>
    <message>
        <source>Model</source>
        <translation>模型</translation>
    </message>
    <message>
        <source>System</source>
        <translation>系统</translation>
    </message>
</context>
<context>
    <name>CalibrationCall</name>
    <message>
        <source>the speed probe failed (exit code {0})</source>
        <translation>测速失败（退出码 {0}）</translation>
    </message>
</context>
<context>
    <name>ChatView</name>
    <message>
        <source>Chat</source>
        <translation>对话</translation>
    </message>
    <message>
        <source>Checkpoints of the runs in this workspace</source>
        <translation>本工作区中各运行的检查点</translation>
    </message>
    <message>
        <source>Open folder…</source>
        <translation>打开文件夹…</translation>
    </message>
    <message>
        <source>Load</source>
        <translation>加载</translation>
    </message>
    <message>
        <source>Int8 (CPU)</source>
        <translation>Int8（CPU）</translation>
    </message>
    <message>
        <source>Decode with int8 weights on the CPU (--quantize int8): a quarter of the bytes read per token, so faster replies on a CPU, with slightly different logits. Applies on Load.</source>
        <translation>在 CPU 上用 int8 权重解码（--quantize int8）：每个 token 读取的字节只有四分之一，所以在 CPU 上回复更快，logits 略有不同。点击“加载”后生效。</translation>
    </message>
    <message>
        <source>No checkpoint loaded.</source>
        <translation>尚未加载检查点。</translation>
    </message>
    <message>
        <source>Checkpoint</source>
        <translation>检查点</translation>
    </message>
    <message>
        <source>Write a message — Enter sends, Shift+Enter adds a line</source>
        <translation>输入消息 —— Enter 发送，Shift+Enter 换行</translation>
    </message>
    <message>
        <source>Send</source>
        <translation>发送</translation>
    </message>
    <message>
        <source>Stop</source>
        <translation>停止</translation>
    </message>
    <message>
        <source>New chat</source>
        <translation>新对话</translation>
    </message>
    <message>
        <source>Look inside</source>
        <translation>看看内部</translation>
    </message>
    <message>
        <source>Show the last reply&apos;s tokens with the model&apos;s probabilities and alternatives, and its attention heatmap (one extra pass over the reply, only while open)</source>
        <translation>显示最近一条回复的各个 token、模型给出的概率和候选，以及注意力热力图（仅在面板打开时对回复多做一次前向计算）</translation>
    </message>
    <message>
        <source>Optional: how the model should behave</source>
        <translation>可选：模型应该如何表现</translation>
    </message>
    <message>
        <source>System prompt</source>
        <translation>系统提示</translation>
    </message>
    <message>
        <source>Compare A/B</source>
        <translation>A/B 对比</translation>
    </message>
    <message>
        <source>Opened {0} · Load its checkpoint to continue it</source>
        <translation>已打开 {0} · 加载它的检查点即可继续对话</translation>
    </message>
    <message>
        <source>Open a checkpoint folder</source>
        <translation>打开检查点文件夹</translation>
    </message>
    <message>
        <source>Loading {0}…</source>
        <translation>正在加载 {0}…</translation>
    </message>
    <message>
        <source>step {0}</source>
        <translation>第 {0} 步</translation>
    </message>
    <message>
        <source>{0:,} params</source>
        <translation>{0:,} 个参数</translation>
    </message>
    <message>
        <source>int8 weights</source>
        <translation>int8 权重</translation>
    </message>
    <message>
        <source>&lt;b&gt;Ready&lt;/b&gt;</source>
        <translation>&lt;b&gt;就绪&lt;/b&gt;</translation>
    </message>
</context>
<context>
    <name>DataPage</name>
    <message>
        <source>A bilingual (English and Chinese) corpus generated on first use: pretraining text, chat conversations, preference pairs and checkable tasks (arithmetic, counting, copying, unit facts), each with a held-out split. No download needed.</source>
        <translation>首次使用时生成的中英双语语料：预训练文本、对话、偏好对和可自动判分的任务（算术、计数、复制、单位常识），每类都有留出的验证集。无需下载。</translation>
    </message>
    <message>
        <source>Use the built-in dataset</source>
        <translation>使用内置数据集</translation>
    </message>
    <message>
        <source>Add files…</source>
        <translation>添加文件…</translation>
    </message>
    <message>
        <source>Remove</source>
        <translation>移除</translation>
    </message>
    <message>
        <source>Cancel scan</source>
        <translation>取消检查</translation>
    </message>
    <message>
        <source>Your files (drop them here):</source>
        <translation>你的文件（拖到这里）：</translation>
    </message>
    <message>
        <source>Text encoding:</source>
        <translation>文本编码：</translation>
    </message>
    <message>
        <source>choose the built-in dataset or add at least one file</source>
        <translation>请选择内置数据集，或至少添加一个文件</translation>
    </message>
    <message>
        <source>the built-in dataset cannot be mixed with your files; uncheck it or remove the files</source>
        <translation>内置数据集不能和你的文件混用；取消勾选它，或移除这些文件</translation>
    </message>
    <message>
        <source>wait for the files to be checked (or cancel and remove them)</source>
        <translation>请等待文件检查完成（或取消并移除它们）</translation>
    </message>
    <message>
        <source>{0}: the check was cancelled; remove the file or add it again</source>
        <translation>{0}：检查已取消；移除该文件或重新添加</translation>
    </message>
    <message>
        <source>{0}: no usable records</source>
        <translation>{0}：没有可用的记录</translation>
    </message>
    <message>
        <source>{0}: {1:.1%} of the lines are bad (more than {2:.0%})</source>
        <translation>{0}：{1:.1%} 的行是坏行（超过 {2:.0%}）</translation>
    </message>
    <message>
        <source>the files hold different kinds of data ({0}); train on one kind at a time</source>
        <translation>这些文件包含不同类型的数据（{0}）；一次只能训练一种</translation>
    </message>
    <message>
        <source>checking…</source>
        <translation>检查中…</translation>
    </message>
    <message>
        <source>Checking {0}… %p%</source>
        <translation>正在检查 {0}… %p%</translation>
    </message>
    <message>
        <source>error</source>
        <translation>出错</translation>
    </message>
    <message>
        <source>cancelled</source>
        <translation>已取消</translation>
    </message>
    <message>
        <source>{0} · {1:,} records</source>
        <translation>{0} · {1:,} 条记录</translation>
    </message>
    <message>
        <source> · {0:,} bad</source>
        <translation> · {0:,} 条坏行</translation>
    </message>
    <message>
        <source>Add data files</source>
        <translation>添加数据文件</translation>
    </message>
    <message>
        <source>Data (*.jsonl *.txt);;All files (*)</source>
        <translation>数据 (*.jsonl *.txt);;所有文件 (*)</translation>
    </message>
    <message>
        <source>&lt;b&gt;{0}&lt;/b&gt;: being checked…</source>
        <translation>&lt;b&gt;{0}&lt;/b&gt;：检查中…</translation>
    </message>
    <message>
        <source>&lt;b&gt;{0}&lt;/b&gt;: check cancelled.</source>
        <translation>&lt;b&gt;{0}&lt;/b&gt;：检查已取消。</translation>
    </message>
    <message>
        <source>&lt;b&gt;{0}&lt;/b&gt; — detected format: &lt;b&gt;{1}&lt;/b&gt;</source>
        <translation>&lt;b&gt;{0}&lt;/b&gt; — 检测到的格式：&lt;b&gt;{1}&lt;/b&gt;</translation>
    </message>
    <message>
        <source>{0:,} records · {1:,} characters · ~{2:,} tokens · {3:,} bad lines of {4:,}</source>
        <translation>{0:,} 条记录 · {1:,} 个字符 · 约 {2:,} 个 token · {4:,} 行中有 {3:,} 行坏行</translation>
    </message>
    <message>
        <source>Bad lines:</source>
        <translation>坏行：</translation>
    </message>
    <message>
        <source>&lt;br&gt;… and {0:,} more</source>
        <translation>&lt;br&gt;…… 还有 {0:,} 行</translation>
    </message>
    <message>
        <source>&lt;b&gt;Built-in dataset&lt;/b&gt;</source>
        <translation>&lt;b&gt;内置数据集&lt;/b&gt;</translation>
    </message>
    <message>
        <source>Preparing the built-in dataset…</source>
        <translation>正在准备内置数据集…</translation>
    </message>
    <message>
        <source>&lt;b&gt;Preference data&lt;/b&gt; (from A/B chat)</source>
        <translation>&lt;b&gt;偏好数据&lt;/b&gt;（来自 A/B 对比对话）</translation>
    </message>
    <message>
        <source>&lt;tr&gt;&lt;th align=&apos;left&apos;&gt;file&lt;/th&gt;&lt;th&gt;records&lt;/th&gt;&lt;th&gt;size&lt;/th&gt;&lt;/tr&gt;</source>
        <translation>&lt;tr&gt;&lt;th align=&apos;left&apos;&gt;文件&lt;/th&gt;&lt;th&gt;记录数&lt;/th&gt;&lt;th&gt;大小&lt;/th&gt;&lt;/tr&gt;</translation>
    </message>
</context>
<context>
    <name>EngineClient</name>
    <message>
        <source>the engine printed a line that is not a protocol event ({0}): {1!r}</source>
        <translation>引擎输出了一行不是协议事件的内容（{0}）：{1!r}</translation>
    </message>
    <message>
        <source>the output stream is corrupt, so the run was stopped; see the log for the engine&apos;s stderr</source>
        <translation>输出流已损坏，运行已停止；引擎的 stderr 见日志</translation>
    </message>
    <message>
        <source>could not start the engine: {0}</source>
        <translation>无法启动引擎：{0}</translation>
    </message>
    <message>
        <source>command: {0} ...; check that the engine is installed</source>
        <translation>命令：{0} ……；请检查引擎是否已安装</translation>
    </message>
    <message>
        <source>the engine process crashed (killed by a signal or a fatal error)</source>
        <translation>引擎进程崩溃了（被信号杀死或发生致命错误）</translation>
    </message>
    <message>
        <source>the engine&apos;s last stderr lines are below; a crash without a traceback is often out-of-memory</source>
        <translation>下面是引擎 stderr 的最后几行；没有 traceback 的崩溃通常是内存不足</translation>
    </message>
    <message>
        <source>the engine was killed after it did not stop in time</source>
        <translation>引擎没有按时停止，已被强制结束</translation>
    </message>
    <message>
        <source>the engine exited with code {0}</source>
        <translation>引擎以退出码 {0} 退出</translation>
    </message>
    <message>
        <source>the log holds the engine&apos;s stderr</source>
        <translation>日志中有引擎的 stderr</translation>
    </message>
    <message>
        <source>the engine exited without reporting how the run ended</source>
        <translation>引擎退出了，但没有报告运行是如何结束的</translation>
    </message>
    <message>
        <source>the engine reported the run failed</source>
        <translation>引擎报告运行失败</translation>
    </message>
</context>
<context>
    <name>ErrorPanel</name>
    <message>
        <source>&lt;b&gt;Run failed:&lt;/b&gt; {0}</source>
        <translation>&lt;b&gt;运行失败：&lt;/b&gt;{0}</translation>
    </message>
    <message>
        <source>Hint: {0}</source>
        <translation>提示：{0}</translation>
    </message>
    <message>
        <source>— last lines of the engine&apos;s stderr —</source>
        <translation>—— 引擎 stderr 的最后几行 ——</translation>
    </message>
</context>
<context>
    <name>EstimateBox</name>
    <message>
        <source>Estimate</source>
        <translation>估算</translation>
    </message>
    <message>
        <source>Training time</source>
        <translation>训练时间</translation>
    </message>
    <message>
        <source>Memory: weights, gradients, the optimizer&apos;s state and one micro-batch of activations.</source>
        <translation>内存：权重、梯度、优化器状态，以及一个微批次的激活。</translation>
    </message>
</context>
<context>
    <name>Field</name>
    <message>
        <source>default: {0}</source>
        <translation>默认值：{0}</translation>
    </message>
    <message>
        <source>comma-separated</source>
        <translation>用逗号分隔</translation>
    </message>
    <message>
        <source>on</source>
        <translation>开</translation>
    </message>
    <message>
        <source>off</source>
        <translation>关</translation>
    </message>
</context>
<context>
    <name>HardwarePage</name>
    <message>
        <source>Detecting hardware (minigpt doctor)…</source>
        <translation>正在检测硬件（minigpt doctor）…</translation>
    </message>
    <message>
        <source>This machine</source>
        <translation>本机</translation>
    </message>
    <message>
        <source>Settings</source>
        <translation>设置</translation>
    </message>
    <message>
        <source>You can still launch with device &apos;auto&apos;.</source>
        <translation>仍然可以用设备 &apos;auto&apos; 启动。</translation>
    </message>
    <message>
        <source>&lt;b&gt;Training time here&lt;/b&gt;: {0} · memory ~{1}</source>
        <translation>&lt;b&gt;在这里的训练时间&lt;/b&gt;：{0} · 内存约 {1}</translation>
    </message>
</context>
<context>
    <name>InsidePanel</name>
    <message>
        <source>Send a message: its reply appears here token by token.</source>
        <translation>发送一条消息：它的回复会在这里逐个 token 显示。</translation>
    </message>
    <message>
        <source>Tokens and probabilities</source>
        <translation>Token 与概率</translation>
    </message>
    <message>
        <source>Attention</source>
        <translation>注意力</translation>
    </message>
    <message>
        <source>No finished reply yet: send a message first.</source>
        <translation>还没有完成的回复：请先发送一条消息。</translation>
    </message>
    <message>
        <source>Looking inside reply {0}…</source>
        <translation>正在查看第 {0} 条回复的内部…</translation>
    </message>
    <message>
        <source>Reply {0}: {1} tokens. Colours show how likely the model found each one (its own probabilities, before temperature and top-p).</source>
        <translation>第 {0} 条回复：{1} 个 token。颜色表示模型认为每个 token 的可能性（模型自身的概率，未经温度和 top-p 处理）。</translation>
    </message>
</context>
<context>
    <name>Knobs</name>
    <message>
        <source>Learn more: the manual, chapter {0} (Help → Manual)</source>
        <translation>了解更多：手册第 {0} 章（帮助 → 手册）</translation>
    </message>
</context>
<context>
    <name>LanguageMenu</name>
    <message>
        <source>&amp;Language</source>
        <translation>语言(&amp;L)</translation>
    </message>
</context>
<context>
    <name>LossOverlay</name>
    <message>
        <source>Compare runs · loss</source>
        <translation>比较训练 · 损失</translation>
    </message>
    <message>
        <source>Log scale</source>
        <translation>对数坐标</translation>
    </message>
    <message>
        <source>(cannot read its events)</source>
        <translation>（无法读取它的事件）</translation>
    </message>
    <message>
        <source>(loading)</source>
        <translation>（加载中）</translation>
    </message>
    <message>
        <source>(no loss logged yet)</source>
        <translation>（还没有记录损失）</translation>
    </message>
    <message>
        <source>solid: training loss · dashed with dots: val loss at each eval</source>
        <translation>实线：训练损失 · 带点的虚线：每次评估的验证损失</translation>
    </message>
    <message>
        <source> · {0}: training loss includes the KL to the teacher</source>
        <translation> · {0}：训练损失包含对教师的 KL</translation>
    </message>
    <message numerus="yes">
        <source>reading %n run(s)…</source>
        <translation>
            <numerusform>正在读取 %n 个训练…</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>MainWindow</name>
    <message>
        <source>Train</source>
        <translation>训练</translation>
    </message>
    <message>
        <source>Monitor</source>
        <translation>监控</translation>
    </message>
    <message>
        <source>Runs</source>
        <translation>运行</translation>
    </message>
    <message>
        <source>Chat</source>
        <translation>对话</translation>
    </message>
    <message>
        <source>device: detecting…</source>
        <translation>设备：检测中…</translation>
    </message>
    <message>
        <source>no runs training</source>
        <translation>没有正在训练的运行</translation>
    </message>
    <message>
        <source>&amp;File</source>
        <translation>文件(&amp;F)</translation>
    </message>
    <message>
        <source>Open &amp;dataset…</source>
        <translation>打开数据集(&amp;D)…</translation>
    </message>
    <message>
        <source>Open run &amp;config…</source>
        <translation>打开运行配置(&amp;C)…</translation>
    </message>
    <message>
        <source>Open &amp;checkpoint…</source>
        <translation>打开检查点(&amp;K)…</translation>
    </message>
    <message>
        <source>Open &amp;workspace…</source>
        <translation>打开工作区(&amp;W)…</translation>
    </message>
    <message>
        <source>&amp;Quit</source>
        <translation>退出(&amp;Q)</translation>
    </message>
    <message>
        <source>&amp;View</source>
        <translation>视图(&amp;V)</translation>
    </message>
    <message>
        <source>&amp;Help</source>
        <translation>帮助(&amp;H)</translation>
    </message>
    <message>
        <source>&amp;Manual (this page&apos;s chapter)</source>
        <translation>手册（本页对应章节）(&amp;M)</translation>
    </message>
    <message>
        <source>Open &amp;docs</source>
        <translation>打开文档(&amp;O)</translation>
    </message>
    <message>
        <source>&amp;About</source>
        <translation>关于(&amp;A)</translation>
    </message>
    <message>
        <source>best</source>
        <translation>最佳</translation>
    </message>
    <message>
        <source>latest</source>
        <translation>最新</translation>
    </message>
    <message numerus="yes">
        <source>%n run(s) training</source>
        <translation>
            <numerusform>%n 个运行正在训练</numerusform>
        </translation>
    </message>
    <message>
        <source>CPU, {0} cores</source>
        <translation>CPU，{0} 核</translation>
    </message>
    <message>
        <source>device: {0}</source>
        <translation>设备：{0}</translation>
    </message>
    <message>
        <source>device: unknown (doctor failed)</source>
        <translation>设备：未知（doctor 失败）</translation>
    </message>
    <message>
        <source>Open a run config</source>
        <translation>打开运行配置</translation>
    </message>
    <message>
        <source>Run config (*.yaml *.yml);;All (*)</source>
        <translation>运行配置 (*.yaml *.yml);;所有文件 (*)</translation>
    </message>
    <message>
        <source>Open run config</source>
        <translation>打开运行配置</translation>
    </message>
    <message>
        <source>Open a checkpoint folder</source>
        <translation>打开检查点文件夹</translation>
    </message>
    <message>
        <source>Open workspace</source>
        <translation>打开工作区</translation>
    </message>
    <message>
        <source>Stop the running runs before switching workspace.</source>
        <translation>切换工作区之前，请先停止正在进行的运行。</translation>
    </message>
    <message>
        <source>Open a workspace folder</source>
        <translation>打开工作区文件夹</translation>
    </message>
    <message>
        <source>workspace: {0}</source>
        <translation>工作区：{0}</translation>
    </message>
    <message>
        <source>About {0}</source>
        <translation>关于 {0}</translation>
    </message>
    <message>
        <source>&lt;p&gt;Train small GPT-style language models from scratch, watch them learn, and talk to the result.&lt;/p&gt;&lt;p&gt;The studio drives the &lt;code&gt;minigpt&lt;/code&gt; engine as separate processes; every run is also a YAML file you can run from the command line.&lt;/p&gt;</source>
        <translation>&lt;p&gt;从零训练小型 GPT 风格的语言模型，看着它们学习，再和训练出的模型对话。&lt;/p&gt;&lt;p&gt;Studio 以独立进程驱动 &lt;code&gt;minigpt&lt;/code&gt; 引擎；每个运行同时也是一个 YAML 文件，可以在命令行里运行。&lt;/p&gt;</translation>
    </message>
    <message>
        <source>Stopping runs: each saves a checkpoint, then the studio closes…</source>
        <translation>正在停止运行：每个运行保存检查点后，Studio 将关闭…</translation>
    </message>
</context>
<context>
    <name>ManualDialog</name>
    <message>
        <source>Manual</source>
        <translation>手册</translation>
    </message>
    <message>
        <source>The manual was not found in {0}.</source>
        <translation>在 {0} 中找不到手册。</translation>
    </message>
</context>
<context>
    <name>MonitorTabs</name>
    <message>
        <source>No run is being monitored.
Launch one from Train, or open a past run from Runs.</source>
        <translation>当前没有正在监控的运行。
从“训练”页启动一个，或从“运行”页打开一个过去的运行。</translation>
    </message>
</context>
<context>
    <name>MonitorView</name>
    <message>
        <source>Pause</source>
        <translation>暂停</translation>
    </message>
    <message>
        <source>Resume</source>
        <translation>继续</translation>
    </message>
    <message>
        <source>Stop (save and exit)</source>
        <translation>停止（保存并退出）</translation>
    </message>
    <message>
        <source>Save now</source>
        <translation>立即保存</translation>
    </message>
    <message>
        <source>Chat with latest</source>
        <translation>与最新检查点对话</translation>
    </message>
    <message>
        <source>Samples</source>
        <translation>样例</translation>
    </message>
    <message>
        <source>Log</source>
        <translation>日志</translation>
    </message>
    <message>
        <source>Saving a checkpoint…</source>
        <translation>正在保存检查点…</translation>
    </message>
    <message>
        <source>✓ Checkpoint saved at step {0:,}</source>
        <translation>✓ 已在第 {0:,} 步保存检查点</translation>
    </message>
    <message>
        <source>⚠ Out of memory at step {0}: micro-batch now {1} × {2}</source>
        <translation>⚠ 第 {0} 步内存不足：微批次改为 {1} × {2}</translation>
    </message>
    <message>
        <source>Auto batch size: {0} × {1}</source>
        <translation>自动批大小：{0} × {1}</translation>
    </message>
    <message>
        <source> · ETA {0}</source>
        <translation> · 预计剩余 {0}</translation>
    </message>
    <message>
        <source>step {0:,} / {1:,} · epoch {2:.3f} · elapsed {3}</source>
        <translation>第 {0:,} / {1:,} 步 · 轮次 {2:.3f} · 已用 {3}</translation>
    </message>
    <message>
        <source> · loss {0:.4f}</source>
        <translation> · 损失 {0:.4f}</translation>
    </message>
    <message>
        <source>elapsed {0}</source>
        <translation>已用 {0}</translation>
    </message>
    <message>
        <source>{0} · elapsed {1}</source>
        <translation>{0} · 已用 {1}</translation>
    </message>
    <message>
        <source>starting</source>
        <translation>启动中</translation>
    </message>
    <message>
        <source> · best val {0:.4f}</source>
        <translation> · 最佳验证损失 {0:.4f}</translation>
    </message>
</context>
<context>
    <name>PlotGrid</name>
    <message>
        <source>Loss</source>
        <translation>损失</translation>
    </message>
    <message>
        <source>Learning rate</source>
        <translation>学习率</translation>
    </message>
    <message>
        <source>Gradient norm</source>
        <translation>梯度范数</translation>
    </message>
    <message>
        <source>Tokens / s</source>
        <translation>Token / 秒</translation>
    </message>
    <message>
        <source>Memory (MiB)</source>
        <translation>内存 (MiB)</translation>
    </message>
    <message>
        <source>GPU memory (MiB)</source>
        <translation>GPU 显存 (MiB)</translation>
    </message>
    <message>
        <source>MPS memory (MiB)</source>
        <translation>MPS 内存 (MiB)</translation>
    </message>
    <message>
        <source>Process memory, RSS (MiB)</source>
        <translation>进程内存，RSS (MiB)</translation>
    </message>
    <message>
        <source>Chosen vs rejected reward</source>
        <translation>选中与拒绝回复的奖励</translation>
    </message>
    <message>
        <source>Eval: chosen vs rejected reward</source>
        <translation>评估：选中与拒绝回复的奖励</translation>
    </message>
    <message>
        <source>Reward (mean, std)</source>
        <translation>奖励（均值、标准差）</translation>
    </message>
    <message>
        <source>KL to the reference</source>
        <translation>相对参考模型的 KL</translation>
    </message>
    <message>
        <source>Preference accuracy</source>
        <translation>偏好准确率</translation>
    </message>
    <message>
        <source>Task accuracy (%)</source>
        <translation>任务准确率 (%)</translation>
    </message>
    <message>
        <source>Eval: KL to the reference</source>
        <translation>评估：相对参考模型的 KL</translation>
    </message>
    <message>
        <source>Eval: preference accuracy</source>
        <translation>评估：偏好准确率</translation>
    </message>
    <message>
        <source>train</source>
        <translation>训练</translation>
    </message>
    <message>
        <source>train (smoothed)</source>
        <translation>训练（平滑）</translation>
    </message>
    <message>
        <source>val</source>
        <translation>验证</translation>
    </message>
    <message>
        <source>grad norm</source>
        <translation>梯度范数</translation>
    </message>
    <message>
        <source>allocated</source>
        <translation>已分配</translation>
    </message>
    <message>
        <source>reserved</source>
        <translation>已预留</translation>
    </message>
    <message>
        <source>peak</source>
        <translation>峰值</translation>
    </message>
    <message>
        <source>peak RSS</source>
        <translation>峰值 RSS</translation>
    </message>
    <message>
        <source>all tasks</source>
        <translation>全部任务</translation>
    </message>
    <message>
        <source>chosen reward</source>
        <translation>选中奖励</translation>
    </message>
    <message>
        <source>rejected reward</source>
        <translation>拒绝奖励</translation>
    </message>
    <message>
        <source>reward mean</source>
        <translation>奖励均值</translation>
    </message>
    <message>
        <source>reward std</source>
        <translation>奖励标准差</translation>
    </message>
    <message>
        <source>add</source>
        <translation>加法</translation>
    </message>
    <message>
        <source>sub</source>
        <translation>减法</translation>
    </message>
    <message>
        <source>count letter</source>
        <translation>数字母</translation>
    </message>
    <message>
        <source>count items</source>
        <translation>数项目</translation>
    </message>
    <message>
        <source>copy</source>
        <translation>复制</translation>
    </message>
    <message>
        <source>reverse</source>
        <translation>倒序</translation>
    </message>
    <message>
        <source>unit</source>
        <translation>单位换算</translation>
    </message>
    <message>
        <source>Log scale</source>
        <translation>对数坐标</translation>
    </message>
    <message>
        <source>Show the loss on a logarithmic axis</source>
        <translation>用对数坐标轴显示损失</translation>
    </message>
    <message>
        <source>Moving-average window of the smoothed training loss</source>
        <translation>平滑训练损失所用的滑动平均窗口</translation>
    </message>
    <message>
        <source>x axis: training step</source>
        <translation>x 轴：训练步数</translation>
    </message>
    <message>
        <source>Smoothing</source>
        <translation>平滑</translation>
    </message>
</context>
<context>
    <name>PreferenceFiles</name>
    <message>
        <source>Preference data in this workspace</source>
        <translation>本工作区中的偏好数据</translation>
    </message>
    <message>
        <source>Use for training</source>
        <translation>用于训练</translation>
    </message>
    <message>
        <source>Add this file to the data files (for the DPO stage)</source>
        <translation>把这个文件加入数据文件（用于 DPO 阶段）</translation>
    </message>
    <message>
        <source>Choices made in Chat → Compare A/B, saved under {0}/ for DPO.</source>
        <translation>在“对话 → A/B 对比”中做出的选择，保存在 {0}/ 下，供 DPO 使用。</translation>
    </message>
    <message>
        <source>None yet: choose between two replies in Chat → Compare A/B and each choice is saved here as a preference pair for DPO.</source>
        <translation>还没有：在“对话 → A/B 对比”中从两个回复里选一个，每次选择都会作为偏好对保存在这里，供 DPO 使用。</translation>
    </message>
    <message>
        <source>&lt;p&gt;&lt;b&gt;{0}&lt;/b&gt; — preference pairs from A/B chat: {1:,} records, {2:,} ties (skipped by DPO), {3:,} bad lines&lt;/p&gt;</source>
        <translation>&lt;p&gt;&lt;b&gt;{0}&lt;/b&gt; — 来自 A/B 对比的偏好对：{1:,} 条记录，{2:,} 个平局（DPO 跳过），{3:,} 行坏行&lt;/p&gt;</translation>
    </message>
</context>
<context>
    <name>ProcessesRow</name>
    <message>
        <source>Processes (one per GPU)</source>
        <translation>进程数（每块 GPU 一个）</translation>
    </message>
    <message>
        <source>Train on several GPUs of this machine: each process drives one GPU and sees its own share of every batch (the run starts through torchrun; see hardware.parallel)</source>
        <translation>在这台机器的多块 GPU 上训练：每个进程驱动一块 GPU，处理每个批次中属于自己的那一份（训练通过 torchrun 启动；见 hardware.parallel）</translation>
    </message>
    <message>
        <source>global batch = processes x batch size x gradient accumulation</source>
        <translation>全局批次 = 进程数 × 批大小 × 梯度累积</translation>
    </message>
</context>
<context>
    <name>ReviewPage</name>
    <message>
        <source>Copy CLI command</source>
        <translation>复制命令行</translation>
    </message>
    <message>
        <source>Save config…</source>
        <translation>保存配置…</translation>
    </message>
    <message>
        <source>Launch</source>
        <translation>启动</translation>
    </message>
    <message>
        <source>&lt;span style=&apos;color:#16a34a&apos;&gt;✓ Valid run configuration&lt;/span&gt;</source>
        <translation>&lt;span style=&apos;color:#16a34a&apos;&gt;✓ 运行配置有效&lt;/span&gt;</translation>
    </message>
    <message>
        <source>&lt;b&gt;Cost&lt;/b&gt;: {0} parameters · {1} tokens · ~{2} memory · time: &lt;b&gt;{3}&lt;/b&gt;</source>
        <translation>&lt;b&gt;开销&lt;/b&gt;：{0} 参数 · {1} token · 约 {2} 内存 · 时间：&lt;b&gt;{3}&lt;/b&gt;</translation>
    </message>
    <message>
        <source>Copied: &lt;code&gt;{0}&lt;/code&gt;</source>
        <translation>已复制：&lt;code&gt;{0}&lt;/code&gt;</translation>
    </message>
    <message>
        <source>Save run config</source>
        <translation>保存运行配置</translation>
    </message>
    <message>
        <source>Saved to {0}</source>
        <translation>已保存到 {0}</translation>
    </message>
</context>
<context>
    <name>RewardSource</name>
    <message>
        <source>A rule reward, or a reward-model checkpoint.</source>
        <translation>一条规则奖励，或一个奖励模型检查点。</translation>
    </message>
    <message>
        <source>Browse…</source>
        <translation>浏览…</translation>
    </message>
    <message>
        <source>rule · {0}</source>
        <translation>规则 · {0}</translation>
    </message>
    <message>
        <source>reward model · {0}</source>
        <translation>奖励模型 · {0}</translation>
    </message>
    <message>
        <source>Choose a reward-model checkpoint</source>
        <translation>选择奖励模型检查点</translation>
    </message>
</context>
<context>
    <name>RunsTableModel</name>
    <message>
        <source>Name</source>
        <translation>名称</translation>
    </message>
    <message>
        <source>Stage</source>
        <translation>阶段</translation>
    </message>
    <message>
        <source>Status</source>
        <translation>状态</translation>
    </message>
    <message>
        <source>Steps</source>
        <translation>步数</translation>
    </message>
    <message>
        <source>Best val loss</source>
        <translation>最佳验证损失</translation>
    </message>
    <message>
        <source>Duration</source>
        <translation>时长</translation>
    </message>
    <message>
        <source>Started</source>
        <translation>开始时间</translation>
    </message>
    <message>
        <source>failed before training: {0}</source>
        <translation>训练前失败：{0}</translation>
    </message>
</context>
<context>
    <name>RunsView</name>
    <message>
        <source>Runs</source>
        <translation>运行</translation>
    </message>
    <message>
        <source>Open</source>
        <translation>打开</translation>
    </message>
    <message>
        <source>Resume</source>
        <translation>继续</translation>
    </message>
    <message>
        <source>Open folder</source>
        <translation>打开文件夹</translation>
    </message>
    <message>
        <source>Chat with best</source>
        <translation>与最佳检查点对话</translation>
    </message>
    <message>
        <source>Chat with latest</source>
        <translation>与最新检查点对话</translation>
    </message>
    <message>
        <source>Delete…</source>
        <translation>删除…</translation>
    </message>
    <message>
        <source>Compare loss</source>
        <translation>比较损失</translation>
    </message>
    <message>
        <source>Select several runs (Ctrl- or Shift-click) to overlay their loss curves</source>
        <translation>选中几个训练（按住 Ctrl 或 Shift 点击），把它们的损失曲线叠在一起</translation>
    </message>
    <message>
        <source>Refresh</source>
        <translation>刷新</translation>
    </message>
    <message numerus="yes">
        <source>%n run(s) in {0}</source>
        <translation>
            <numerusform>{0} 中有 %n 个运行</numerusform>
        </translation>
    </message>
    <message>
        <source>Delete failed start</source>
        <translation>删除启动失败的运行</translation>
    </message>
    <message>
        <source>It never trained: only its log goes</source>
        <translation>它从未训练过：只会删除它的日志</translation>
    </message>
    <message>
        <source>Delete run</source>
        <translation>删除运行</translation>
    </message>
    <message>
        <source>Delete the run folder
{0}
with its checkpoints and events? This cannot be undone.</source>
        <translation>删除运行文件夹
{0}
及其中的检查点和事件吗？此操作无法撤销。</translation>
    </message>
    <message>
        <source>Could not delete {0}:
{1}</source>
        <translation>无法删除 {0}：
{1}</translation>
    </message>
</context>
<context>
    <name>SamplesView</name>
    <message>
        <source>Samples appear at each evaluation.</source>
        <translation>每次评估时会在这里出现样例。</translation>
    </message>
</context>
<context>
    <name>SamplingBox</name>
    <message>
        <source>Temperature</source>
        <translation>温度</translation>
    </message>
    <message>
        <source>Randomness: 0 always picks the likeliest token; higher is wilder.</source>
        <translation>随机程度：0 总是选最可能的 token；越高越天马行空。</translation>
    </message>
    <message>
        <source>Sample only among the k likeliest tokens (0 = no limit).</source>
        <translation>只在最可能的 k 个 token 中采样（0 = 不限）。</translation>
    </message>
    <message>
        <source>Sample from the smallest set of tokens whose probabilities add up to p.</source>
        <translation>从概率之和达到 p 的最小 token 集合中采样。</translation>
    </message>
    <message>
        <source>Max new tokens</source>
        <translation>最大新 token 数</translation>
    </message>
    <message>
        <source>The longest reply, in tokens.</source>
        <translation>回复的最大长度（token 数）。</translation>
    </message>
    <message>
        <source>Repetition penalty</source>
        <translation>重复惩罚</translation>
    </message>
    <message>
        <source>Above 1 makes tokens already in the conversation less likely (less looping).</source>
        <translation>大于 1 时，对话中已出现的 token 概率降低（减少车轱辘话）。</translation>
    </message>
    <message>
        <source>Seed</source>
        <translation>种子</translation>
    </message>
    <message>
        <source>Fixes the sampling for repeatable replies (-1 = random).</source>
        <translation>固定采样，得到可复现的回复（-1 = 随机）。</translation>
    </message>
    <message>
        <source>Sampling</source>
        <translation>采样</translation>
    </message>
    <message>
        <source>{0} Default: {1}.</source>
        <translation>{0} 默认值：{1}。</translation>
    </message>
    <message>
        <source>Defaults</source>
        <translation>恢复默认</translation>
    </message>
    <message>
        <source>Back to the engine&apos;s defaults</source>
        <translation>恢复为引擎的默认值</translation>
    </message>
</context>
<context>
    <name>SavedChats</name>
    <message>
        <source>Saved chats</source>
        <translation>已保存的对话</translation>
    </message>
    <message>
        <source>Save chat</source>
        <translation>保存对话</translation>
    </message>
    <message>
        <source>Save this conversation to the workspace&apos;s chats folder</source>
        <translation>把这段对话保存到工作区的 chats 文件夹</translation>
    </message>
    <message>
        <source>Open chat…</source>
        <translation>打开对话…</translation>
    </message>
    <message>
        <source>Could not save the chat: {0}. Check that the workspace is writable.</source>
        <translation>无法保存对话：{0}。请检查工作区是否可写。</translation>
    </message>
    <message>
        <source>Saved to chats/{0}</source>
        <translation>已保存到 chats/{0}</translation>
    </message>
    <message>
        <source>Opened {0}</source>
        <translation>已打开 {0}</translation>
    </message>
    <message>
        <source>Open a saved chat</source>
        <translation>打开已保存的对话</translation>
    </message>
    <message>
        <source>Chats (*.jsonl)</source>
        <translation>对话 (*.jsonl)</translation>
    </message>
</context>
<context>
    <name>ScheduleCurve</name>
    <message>
        <source>Lion steps at a third of this lr (its sign updates are larger than Adam&apos;s)</source>
        <translation>Lion 以这个学习率的三分之一更新（它的符号更新比 Adam 的大）</translation>
    </message>
    <message>
        <source>Muon&apos;s matrices take three times this lr; embeddings, head and norms (AdamW) this one</source>
        <translation>Muon 的矩阵用三倍于此的学习率；嵌入、输出头和归一化（AdamW）用这个学习率</translation>
    </message>
    <message>
        <source>Sophia clips each weight&apos;s step to a third of this lr</source>
        <translation>Sophia 把每个权重的步长裁剪到这个学习率的三分之一</translation>
    </message>
    <message>
        <source>step</source>
        <translation>步</translation>
    </message>
    <message>
        <source>{0} after {1:,} warm-up steps: peak {2:.3g}, ends at {3:.3g} (step {4:,})</source>
        <translation>{1:,} 步预热之后按 {0} 调度：峰值 {2:.3g}，结束时 {3:.3g}（第 {4:,} 步）</translation>
    </message>
</context>
<context>
    <name>StageNeeds</name>
    <message>
        <source>plain text</source>
        <translation>纯文本</translation>
    </message>
    <message>
        <source>chat conversations</source>
        <translation>对话</translation>
    </message>
    <message>
        <source>preference pairs (prompt, chosen, rejected)</source>
        <translation>偏好对（prompt、chosen、rejected）</translation>
    </message>
    <message>
        <source>RL prompts (with answers for rule rewards)</source>
        <translation>强化学习提示（带答案，用于规则奖励）</translation>
    </message>
</context>
<context>
    <name>StagePage</name>
    <message>
        <source>Model</source>
        <translation>模型</translation>
    </message>
    <message>
        <source>Optimizer</source>
        <translation>优化器</translation>
    </message>
    <message>
        <source>Training run</source>
        <translation>训练运行</translation>
    </message>
    <message>
        <source>Data handling</source>
        <translation>数据处理</translation>
    </message>
    <message>
        <source>Browse…</source>
        <translation>浏览…</translation>
    </message>
    <message>
        <source>Start from</source>
        <translation>起点</translation>
    </message>
    <message>
        <source>Needs</source>
        <translation>需要</translation>
    </message>
    <message>
        <source>Reward from</source>
        <translation>奖励来源</translation>
    </message>
    <message>
        <source>Teacher</source>
        <translation>教师</translation>
    </message>
    <message>
        <source>Stage</source>
        <translation>阶段</translation>
    </message>
    <message>
        <source>Stage settings</source>
        <translation>阶段设置</translation>
    </message>
    <message>
        <source>LoRA adapters (rank 0 = train every weight)</source>
        <translation>LoRA 适配器（秩为 0 = 训练全部权重）</translation>
    </message>
    <message>
        <source>stage.reward: the {0} stage needs a reward source (a rule or a reward-model checkpoint)</source>
        <translation>stage.reward：{0} 阶段需要一个奖励来源（一条规则或一个奖励模型检查点）</translation>
    </message>
    <message>
        <source>stage.teacher: the {0} stage needs a teacher checkpoint (a finished run)</source>
        <translation>stage.teacher：{0} 阶段需要一个教师检查点（一个已完成的训练）</translation>
    </message>
    <message>
        <source>stage.init: not a checkpoint folder (or a run folder with checkpoints)</source>
        <translation>stage.init：不是检查点文件夹（也不是含检查点的运行文件夹）</translation>
    </message>
    <message>
        <source>the {0} stage needs {1} data, but the data page holds {2}</source>
        <translation>{0} 阶段需要 {1} 数据，但数据页中是 {2}</translation>
    </message>
    <message>
        <source>Choose a checkpoint folder</source>
        <translation>选择检查点文件夹</translation>
    </message>
    <message>
        <source>no such folder</source>
        <translation>文件夹不存在</translation>
    </message>
</context>
<context>
    <name>Status</name>
    <message>
        <source>running</source>
        <translation>训练中</translation>
    </message>
    <message>
        <source>paused</source>
        <translation>已暂停</translation>
    </message>
    <message>
        <source>stopping</source>
        <translation>停止中</translation>
    </message>
    <message>
        <source>completed</source>
        <translation>已完成</translation>
    </message>
    <message>
        <source>stopped</source>
        <translation>已停止</translation>
    </message>
    <message>
        <source>failed</source>
        <translation>失败</translation>
    </message>
    <message>
        <source>diverged</source>
        <translation>已发散</translation>
    </message>
    <message>
        <source>interrupted</source>
        <translation>已中断</translation>
    </message>
    <message>
        <source>starting</source>
        <translation>启动中</translation>
    </message>
    <message>
        <source>unknown</source>
        <translation>未知</translation>
    </message>
    <message>
        <source>failed start</source>
        <translation>启动失败</translation>
    </message>
</context>
<context>
    <name>TeacherPicker</name>
    <message>
        <source>a finished run whose tokenizer the student shares</source>
        <translation>一个已完成的训练，学生与它共用分词器</translation>
    </message>
    <message>
        <source>Browse…</source>
        <translation>浏览…</translation>
    </message>
    <message>
        <source>teacher · {0}</source>
        <translation>教师 · {0}</translation>
    </message>
</context>
<context>
    <name>TokenView</name>
    <message>
        <source>Point at a coloured reply token to see the model&apos;s alternatives.</source>
        <translation>把鼠标指向一个彩色的回复 token，查看模型给出的候选。</translation>
    </message>
    <message>
        <source>Alternative</source>
        <translation>候选</translation>
    </message>
    <message>
        <source>Id</source>
        <translation>ID</translation>
    </message>
    <message>
        <source>Probability</source>
        <translation>概率</translation>
    </message>
    <message>
        <source>&lt;b&gt;{0}&lt;/b&gt; · id {1} · probability {2:.1%} — the model&apos;s likeliest alternatives here:</source>
        <translation>&lt;b&gt;{0}&lt;/b&gt; · id {1} · 概率 {2:.1%} —— 模型在这里最可能的候选：</translation>
    </message>
</context>
<context>
    <name>TokenizerPage</name>
    <message>
        <source>English</source>
        <translation>英文</translation>
    </message>
    <message>
        <source>Chinese</source>
        <translation>中文</translation>
    </message>
    <message>
        <source>Train one automatically when the run starts (cached for later runs)</source>
        <translation>运行开始时自动训练一个（缓存下来供以后的运行使用）</translation>
    </message>
    <message>
        <source>Use an existing tokenizer</source>
        <translation>使用已有的分词器</translation>
    </message>
    <message>
        <source>Train one now</source>
        <translation>现在训练一个</translation>
    </message>
    <message>
        <source>Browse…</source>
        <translation>浏览…</translation>
    </message>
    <message>
        <source>Train tokenizer</source>
        <translation>训练分词器</translation>
    </message>
    <message>
        <source>The split of a sample sentence appears here once a tokenizer is chosen or trained.</source>
        <translation>选定或训练好分词器后，这里会显示示例句子的切分结果。</translation>
    </message>
    <message>
        <source>Tokenizer</source>
        <translation>分词器</translation>
    </message>
    <message>
        <source>Training settings</source>
        <translation>训练设置</translation>
    </message>
    <message>
        <source>wait for the tokenizer to finish training</source>
        <translation>请等待分词器训练完成</translation>
    </message>
    <message>
        <source>pick a tokenizer.json (or a folder holding one)</source>
        <translation>请选择一个 tokenizer.json（或包含它的文件夹）</translation>
    </message>
    <message>
        <source>train the tokenizer first, or choose automatic training</source>
        <translation>请先训练分词器，或选择自动训练</translation>
    </message>
    <message>
        <source>Choose a tokenizer</source>
        <translation>选择分词器</translation>
    </message>
    <message>
        <source>Tokenizer (tokenizer.json);;JSON (*.json)</source>
        <translation>分词器 (tokenizer.json);;JSON (*.json)</translation>
    </message>
    <message>
        <source>Training the tokenizer…</source>
        <translation>正在训练分词器…</translation>
    </message>
    <message>
        <source>{0}: {1} chars/token</source>
        <translation>{0}：每 token {1} 个字符</translation>
    </message>
    <message>
        <source>Trained: {0} ({1} tokens; {2})</source>
        <translation>已训练：{0}（{1} 个 token；{2}）</translation>
    </message>
    <message>
        <source>Tokenizer training failed: {0}</source>
        <translation>分词器训练失败：{0}</translation>
    </message>
    <message>
        <source>could not read the tokenizer: {0}</source>
        <translation>无法读取分词器：{0}</translation>
    </message>
</context>
<context>
    <name>TrainWizard</name>
    <message>
        <source>Back</source>
        <translation>上一步</translation>
    </message>
    <message>
        <source>Next</source>
        <translation>下一步</translation>
    </message>
</context>
<context>
    <name>TranscriptPane</name>
    <message>
        <source>Model</source>
        <translation>模型</translation>
    </message>
    <message>
        <source>(empty reply)</source>
        <translation>（空回复）</translation>
    </message>
</context>
</TS>
