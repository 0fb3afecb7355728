"""Chinese (简体中文) names and help texts of every config knob, keyed "section.key": what `help_for()` returns as
"label_zh" and "help_zh", so `minigpt doctor --json` and the studio's tooltips speak both languages.

Torch-free and data only. A knob added to engine/config_*.py needs an entry here too
(tests/test_i18n_knob_help.py fails until it has one).
"""

from __future__ import annotations

# key: (label, help)
KNOBS_ZH: dict[str, tuple[str, str]] = {
    "model.preset": ("模型预设", "这个模型形状来自哪个预设（presets/models/<name>.yaml）。"),
    "model.vocab_size": ("词表大小", "词表大小；0 表示从分词器读取。"),
    "model.d_model": ("宽度 (d_model)", "残差流的宽度（嵌入维度）。"),
    "model.n_layer": ("层数 (n_layer)", "Transformer 块的个数。"),
    "model.n_head": ("注意力头数 (n_head)", "注意力头的个数；必须整除 d_model。"),
    "model.n_kv_head": ("KV 头数 (n_kv_head)",
                        "分组查询注意力（GQA）的键/值头数；必须整除 n_head（等于 n_head 即普通多头注意力）。"),
    "model.d_ff": ("MLP 宽度 (d_ff)",
                   "MLP 的隐藏层大小；0 表示自动取 8/3 × d_model（门控）或 4 × d_model（gelu），并取整到 32 的倍数。"),
    "model.max_seq_len": ("最大序列长度", "模型所支持的最长序列（决定 RoPE 表和 KV 缓存的大小）。"),
    "model.rope_theta": ("RoPE 基频", "RoPE 的基础频率；值越大越适合长上下文。"),
    "model.activation": ("激活函数",
                         "MLP 类型：swiglu（Llama 风格）、geglu、gelu（GPT-2 风格）或 relu2（平方 ReLU）；后两者无门"
                         "控，隐藏层更宽。"),
    "model.qk_norm": ("QK 归一化", "注意力之前对每个头的查询和键做 RMS 归一化（学习率高时更稳定）。"),
    "model.tie_embeddings": ("共享嵌入", "词嵌入与输出头共用同一个矩阵（省下 vocab × d_model 个参数）。"),
    "model.norm_eps": ("归一化 eps", "RMSNorm 里的 epsilon。"),
    "model.dropout": ("Dropout", "注意力和残差输出上的 dropout；数据充足的小模型训练取 0 最好。"),
    "model.init_std": ("初始化标准差", "正态初始化的标准差；残差投影再乘以 1/sqrt(2 n_layer)。"),
    "tokenizer.path": ("分词器路径", "一个 tokenizer.json（或它所在的文件夹）；留空则在数据上训练一个并缓存。"),
    "tokenizer.vocab_size": ("词表大小", "训练分词器时的词表大小。"),
    "tokenizer.sample_bytes": ("采样字节数", "训练分词器时，每个数据文件最多读取这么多字节。"),
    "tokenizer.min_frequency": ("最小频次", "训练时，一个字节对至少出现这么多次才会被合并。"),
    "data.train": ("训练文件", "训练文件（.jsonl 或 .txt），或用 'builtin' 表示内置数据集。"),
    "data.val": ("验证文件", "验证文件；留空则用内置数据的留出集，或从训练集中按 val_fraction 划出。"),
    "data.val_fraction": ("验证集比例", "没有给出验证文件时，从训练记录中留作验证的比例。"),
    "data.seq_len": ("序列长度", "每条训练序列的 token 数（不超过 model.max_seq_len）。"),
    "data.packing": ("序列打包", "把多篇文档 / 多段对话拼进同一条序列（不浪费在填充上）。"),
    "data.max_bad_fraction": ("坏行比例上限", "某个文件中坏行的比例超过这个值时，训练开始前就停止。"),
    "data.seed": ("数据种子", "内置数据集生成器的随机种子。"),
    "data.encoding": ("文本编码",
                      "数据文件的文本编码：utf-8、auto（逐个文件猜测），或 Python 编解码器名，如 gb18030、cp1252。内"
                      "置数据集总是 UTF-8。"),
    "data.control_tokens": ("控制 token",
                            "把预训练文本里写出的 <|im_start|>、<|im_end|> 和 <|endoftext|> 当作控制 token 读取（mini"
                            "mind 的 pretrain_hq.jsonl 会把 ChatML 对话拼进文本）；关闭时它们只是普通字符。对话内容总"
                            "按普通文本处理；内置语料总是开启。"),
    "stage.name": ("训练阶段",
                   "训练阶段：pretrain（在纯文本上预测下一个 token）；sft（对话微调，只在助手回复上计算损失，通常从预"
                   "训练检查点开始）；dpo（在 chosen/rejected 偏好对上做直接偏好优化，从 SFT 检查点开始）；reward（奖"
                   "励模型：在偏好对上训练一个标量输出头，从 SFT 检查点开始）；ppo（用 PPO 做 RLHF：采样的回复由 stag"
                   "e.reward 打分，配合价值头、GAE 和相对 SFT 参考模型的 KL 惩罚，从 SFT 检查点开始）；grpo（用 GRPO "
                   "做强化学习：每个提示采样一组回复，由 stage.reward 打分并在组内比较，从 SFT 检查点开始）；distill"
                   "（知识蒸馏：学生从冻结的教师检查点的软化预测（stage.teacher）和硬标签中学习对话回复）。"),
    "stage.init": ("起始检查点", "从哪个检查点文件夹开始（例如 SFT 用一个完成的预训练运行）。"),
    "stage.loss_type": ("DPO 损失类型",
                        "DPO 损失：sigmoid（DPO）、ipo、hinge（SLiC）或 simpo（无需参考模型，按长度归一化）。"),
    "stage.beta": ("beta",
                   "DPO：策略被参考模型约束的强度（奖励 = beta × 对数比）；GRPO：KL 系数（0 表示不保留参考模型）。"),
    "stage.label_smoothing": ("标签平滑", "DPO（sigmoid、simpo）：假定偏好标签中错误的比例，取值 [0, 0.5)。"),
    "stage.rpo_alpha": ("RPO 系数",
                        "DPO：把 chosen 回复自身的 NLL 乘以这个权重加到每对的损失上（RPO）；在拉开差距的同时让正确答"
                        "案保持高概率。0 即普通 DPO。"),
    "stage.rm_negatives": ("合成负例权重",
                           "奖励模型：合成负例的权重。每个 chosen 回复还要排在空回复和另一个提示的回复之前，这样 PPO 就"
                           "不能靠什么都不说或答非所问来得分。0 = 只用偏好对。"),
    "stage.rm_center": ("奖励居中权重",
                        "奖励模型：对 (r_chosen + r_rejected)^2 的惩罚权重，让每个提示的分数围绕 0，这样分数评价的是回"
                        "复而不是提示，PPO 的优势也不会被提示间的偏移淹没。0 = 关闭；奖励预设用 0.1。"),
    "stage.reward": ("奖励来源",
                     "PPO/GRPO 的奖励来源：一条规则（exact_match、numeric_match、format）、一个奖励模型检查点的文件"
                     "夹，或多个这样的文件夹组成的列表（奖励模型集成，按 stage.reward_combine 合并）。"),
    "stage.reward_combine": ("集成合并方式",
                             "PPO/GRPO 使用奖励模型列表时：先把每个模型的分数标准化，再取平均（mean），或取最小值"
                             "（min，保守：回复必须让每个奖励模型都满意）。"),
    "stage.group_size": ("组大小", "GRPO（以及开启 stage.prompt_baseline 的 PPO）：每个提示采样的回复数；"
                                   "优势在每组内部归一化。"),
    "stage.ppo_epochs": ("PPO 轮数", "PPO/GRPO：每批 rollout 在采样下一批之前，优化器遍历它的次数。"),
    "stage.kl_target": ("KL 目标",
                        "PPO/GRPO：一旦策略相对 rollout 策略的 KL 超过这个值，就提前结束这一批的遍历（0 = 从不）。"),
    "stage.kl_coef": ("KL 系数", "PPO：相对冻结参考模型的逐 token KL 惩罚，从奖励中扣除。"),
    "stage.clip_range": ("裁剪范围", "PPO/GRPO：概率比的裁剪范围（也用于 PPO 价值的变化）。"),
    "stage.vf_coef": ("价值损失系数", "PPO：价值头损失相对策略损失的权重。"),
    "stage.value_lr_ratio": ("价值头学习率倍数",
                             "PPO：价值头的学习率是 optim.lr 的多少倍。价值头从零开始训练，而策略已经训练过："
                             "用 ppo 预设、1 倍（3e-5）时其损失 200 步内一直在 0.35–0.39；10 倍时降到 0.22–0.28。"),
    "stage.gamma": ("折扣因子 gamma", "PPO：GAE 中每个回复 token 的折扣。"),
    "stage.lam": ("GAE lambda", "PPO：GAE 的 lambda（优势估计的偏差-方差权衡）。"),
    "stage.whiten_rewards": ("奖励白化", "PPO：把每批 rollout 的奖励归一化为均值 0、标准差 1。"),
    "stage.prompt_baseline": ("按提示减基线", "PPO：每个提示采样 stage.group_size 条回复，减去该提示的平均分，"
                              "使奖励模型对不同提示的整体偏移不淹没同一提示内回复的排序。"),
    "stage.rollout_tokens": ("rollout 长度", "PPO/GRPO：每个提示采样回复的最大 token 数。"),
    "stage.rollout_temperature": ("rollout 温度", "PPO/GRPO：rollout 的采样温度。"),
    "optim.lr": ("学习率 (lr)", "AdamW 的峰值学习率。"),
    "optim.min_lr_ratio": ("最小学习率比例", "最终学习率占 lr 的比例。"),
    "optim.weight_decay": ("权重衰减", "AdamW 的权重衰减（不作用于归一化层和嵌入）。"),
    "optim.beta1": ("beta1", "AdamW 的 beta1（动量）。"),
    "optim.beta2": ("beta2", "AdamW 的 beta2（二阶矩衰减）。"),
    "optim.eps": ("eps", "AdamW 的 epsilon。"),
    "optim.warmup_steps": ("预热步数", "学习率从 0 线性升到 lr 所用的步数。"),
    "optim.schedule": ("学习率调度",
                       "预热之后的调度：cosine（余弦）、linear（线性）、wsd（预热—平稳—衰减）或 constant（恒定）。"),
    "optim.decay_fraction": ("衰减比例", "wsd 调度：最后这部分比例的步数里学习率衰减。"),
    "optim.grad_clip": ("梯度裁剪", "把全局梯度范数裁剪到这个值（0 = 关闭）。"),
    "hardware.device": ("设备", "在哪里训练：auto、cpu、cuda、cuda:N 或 mps。"),
    "hardware.precision": ("精度", "auto（芯片支持时用 bf16，老 GPU 用 fp16，否则 fp32）、bf16、fp16、fp32。"),
    "hardware.compile": ("编译",
                         "用 torch.compile 编译模型：auto（CUDA GPU 上开启；CPU 上用于长时间运行，或此工作区以前编译过"
                         "该模型形状的较短运行；Apple GPU 上关闭）、on 或 off。编译失败时训练会说明原因并以不编译的方式"
                         "继续。"),
    "hardware.grad_checkpointing": ("梯度检查点", "反向传播时重新计算激活：省显存，慢约 30%。"),
    "hardware.threads": ("线程数", "torch 使用的 CPU 线程数；0 保持 torch 的默认值。"),
    "hardware.tf32": ("TF32 矩阵乘", "在 NVIDIA GPU 上允许 TF32 矩阵乘法（更快，精度损失极小）。"),
    "run.name": ("运行名称", "加在运行文件夹名字上的简短名称。"),
    "run.seed": ("随机种子", "初始化、数据顺序和采样的种子；在 CPU 上同一个种子能完全复现一次运行。"),
    "run.max_steps": ("最大步数", "训练的优化器步数。"),
    "run.batch_size": ("批大小",
                       "每个微批次的序列数，或 auto：训练前用真实的训练步试出 hardware.memory_fraction 之内能放下的最"
                       "大值。"),
    "run.grad_accum": ("梯度累积", "每个优化器步累积的微批次数（每步 token 数 = batch × accum × seq_len）。"),
    "run.log_every": ("日志间隔", "每 N 步发出一次 step 事件（损失、学习率、吞吐量）。"),
    "run.eval_every": ("评估间隔", "每 N 步评估一次验证损失（结束时也评估）；0 = 只在结束时评估。"),
    "run.eval_batches": ("评估批次数", "每次评估使用的验证数据批次数。"),
    "run.task_eval_items": ("任务评估题数", "每次评估时用贪心解码求解的留出可检验任务数（内置数据；0 = 关闭）。"),
    "run.checkpoint_every": ("检查点间隔", "每 N 步保存一个检查点（结束时总会保存）；0 = 只在结束时保存。"),
    "run.keep_last": ("保留最近", "只保留最新的 N 个定期检查点（最佳检查点总会保留）；0 保留全部。"),
    "run.sample_prompts": ("采样提示", "每次评估时续写的提示，用来展示进展。"),
    "run.sample_tokens": ("采样长度", "每个采样提示生成的 token 数。"),
    "run.max_nonfinite_steps": ("非有限步上限",
                                "连续这么多步的损失或梯度为 NaN/inf 时，把运行判为发散并停止（每个这样的步都会被跳过"
                                "，权重不变）。"),
    "model.moe": ("混合专家 (MoE)", "混合专家前馈层（num_experts、top_k 等）；没有这一节即为稠密模型。"),
    "model.moe.num_experts": ("专家数", "每个 MoE 层中可路由的专家个数（每个专家是一个与 MLP 同类型的前馈网络）。"),
    "model.moe.top_k": ("每个 token 的专家数 (top_k)", "每个 token 被路由到的专家个数；它们的权重重新归一化，和为 1。"),
    "model.moe.shared_experts": ("共享专家数",
                                 "除了路由到的 top_k 个专家外，每个 token 都要经过的专家个数（0 = 没有）。"),
    "model.moe.every_n_layers": ("每隔几层用 MoE", "每第 n 个块使用 MoE（第 n-1、2n-1……块）；1 = 每个块都用。"),
    "model.moe.aux_loss_coef": ("负载均衡损失系数", "负载均衡损失 E * sum_i f_i P_i 的权重（均衡时为 1.0）。"),
    "model.moe.z_loss_coef": ("路由 z 损失系数", "路由器 z 损失 mean(logsumexp(路由 logits)^2) 的权重。"),
    "stage.tasks": ("任务题型",
                    "PPO/GRPO：只在这些题型（记录的 task 字段）的提示上训练，例如起始模型能部分做对的题型；留空 = 所"
                    "有提示。没有标明题型的提示会被忽略，并给出警告。"),
    "stage.teacher": ("教师模型", "蒸馏：教师的检查点（或训练）文件夹；它必须使用与学生相同的分词器。"),
    "stage.alpha": ("蒸馏权重 alpha",
                    "蒸馏：对教师的 KL 的权重；1 - alpha 为硬标签交叉熵的权重（0 = 普通 SFT，1 = 只学教师）。"),
    "stage.temperature": ("蒸馏温度", "蒸馏：在求 KL 之前软化两个分布（logits / T）；KL 乘以 T^2，使梯度大小不变。"),
    "optim.name": ("优化器",
                   "优化器：adamw、lion、schedulefree_adamw、muon（嵌入、输出头和归一化用 AdamW）或 sophia（SophiaH，"
                   "每 optim.hessian_every 步估计一次 Hessian）。"),
    "optim.hessian_every": ("Hessian 估计间隔",
                            "sophia 专用：两次 Hessian 对角估计之间的步数（每次约多一次反向传播）。"),
    "hardware.memory_fraction": ("内存占比上限",
                                 "run.batch_size: auto 可以规划使用的设备内存比例（CPU 上为内存）；其余留作余量。"),
    "hardware.parallel": ("多进程并行",
                          "多进程训练（torchrun，--nproc N）：ddp（每个进程一份完整副本）或 fsdp（权重和优化器分片存"
                          "放）；none = 单进程。"),
    "run.global_batch_tokens": ("全局批次 token 数",
                                "每个优化步的 token 数；设置后由它推出 grad_accum（批大小 × 累积 × 序列长度必须等于它"
                                "）。0 = 不设置。"),
    "lora.rank": ("LoRA 秩", "LoRA 的秩 r：每个目标层训练 r × (输入 + 输出) 个适配器权重，基座冻结（0 = 关闭）。"),
    "lora.alpha": ("LoRA alpha", "LoRA alpha：适配器的输出乘以 alpha / rank；用 Adam 时 alpha 越大，"
                   "更新量从零开始长得越快（步长由 lora.lr_ratio 决定）。"),
    "lora.lr_ratio": ("LoRA 学习率倍数",
                      "适配器的学习率是 optim.lr 的多少倍（调度曲线相同）：几万个低秩权重需要比全量微调更大的步长。"
                      "tiny 预设、optim.lr 1e-3 下 SFT 300 步：1 倍时验证损失 0.793，3 倍时 0.750。"),
    "lora.dora": ("DoRA（权重分解）",
                  "DoRA：另为每个适配层的每个输出训练一个幅度 m，"
                  "W' = m · (W + (alpha / r) B A) / ||W + (alpha / r) B A||（按输出行取范数；每层多 d_out 个权重）。"
                  "tiny 预设、r4、SFT 600 步：验证损失 0.624（LoRA 为 0.645；预训练更久的基座上 0.486 对 0.496）；"
                  "300 步后 0.745 对 0.750（该基座上同为 0.542）。"),
    "lora.dropout": ("LoRA dropout", "适配器输入上的 dropout（基座路径从不 dropout）。"),
    "lora.targets": ("LoRA 目标层",
                     "加适配器的层：q_proj、k_proj、v_proj、o_proj（注意力），gate_proj、up_proj、down_proj（MLP）"
                     "以及 embed（词嵌入和与之共享的输出头：r × (词表大小 + d_model) 个权重）。"),
    "lora.train_special_tokens": ("训练特殊 token 的词嵌入行",
                                  "同时训练分词器特殊 token（<|im_start|>、<|im_end|> 等）在词嵌入（以及共享的输出头）"
                                  "中的那几行：只有几千个数，却让模型学会基座从没见过的对话格式。"),
    "lora.train_frequent_tokens": ("训练高频 token 的词嵌入行",
                                   "同时训练训练数据中出现最多的这么多个 token 在词嵌入（以及共享的输出头）中的行："
                                   "也就是这次微调最常用的词（0 = 不训练；每行 d_model 个数）。"),
}


def label_zh(key: str) -> str:
    return KNOBS_ZH.get(key, ("", ""))[0]


def help_zh(key: str) -> str:
    return KNOBS_ZH.get(key, ("", ""))[1]
