"""tweedie's small MLP denoiser for vector data (architecture "mlp").

    emb = time_embed(timestep_embedding(t, emb_dim))     # Linear(emb_dim, hidden), SiLU, Linear(hidden, hidden)
    h   = input(x) + emb                                 # Linear(dim, hidden)
    h   = h + blocks[i](silu(h))  for i in 0..depth-1    # Linear(hidden, hidden) each
    out = output(silu(h))                                # Linear(hidden, dim)

x has shape (N, dim). The timestep embedding is the ADM one (cosine half first).
"""

import torch
import torch.nn.functional as F
from torch import nn

from adm import timestep_embedding


class MLPDenoiser(nn.Module):
    def __init__(self, dim, hidden, depth, emb_dim):
        super().__init__()
        self.dim = dim
        self.emb_dim = emb_dim
        self.time_embed = nn.Sequential(nn.Linear(emb_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.input = nn.Linear(dim, hidden)
        self.blocks = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(depth))
        self.output = nn.Linear(hidden, dim)

    def forward(self, x, timesteps):
        # float32 embedding whatever the model dtype, as for the ADM model
        emb = self.time_embed(timestep_embedding(timesteps, self.emb_dim).to(x.dtype))
        h = self.input(x) + emb
        for block in self.blocks:
            h = h + block(F.silu(h))
        return self.output(F.silu(h))
