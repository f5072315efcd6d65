"""The block shared by the actor stages and the action head: self-attention among
instances, dynamic interaction with each instance's tokens, then an optional FFN."""
import torch
from torch import nn

from .dynamic_conv import DynamicConv

__all__ = ["InteractionBlock"]


class InteractionBlock(nn.Module):
    """Sparse R-CNN's instance block, each step residual and layer-normed."""

    def __init__(self, *, hidden_dim: int, num_heads: int, dropout: float, dim_dynamic: int,
                 num_dynamic: int, num_tokens: int, dim_feedforward: int = 0):
        """
        Args:
            hidden_dim: width d of instance features and tokens.
            num_heads: attention heads.
            dropout: dropout after attention, interaction and FFN.
            dim_dynamic: inner width of the dynamic layers.
            num_dynamic: number of dynamic layers.
            num_tokens: tokens L per instance.
            dim_feedforward: hidden width of the FFN; 0 for no FFN.
        """
        super().__init__()
        self.self_attn = nn.MultiheadAttention(hidden_dim, num_heads, dropout=dropout, batch_first=True)
        self.norm1 = nn.LayerNorm(hidden_dim)
        self.interaction = DynamicConv(hidden_dim=hidden_dim, dim_dynamic=dim_dynamic,
                                       num_dynamic=num_dynamic, num_tokens=num_tokens)
        self.norm2 = nn.LayerNorm(hidden_dim)
        self.ffn = None
        if dim_feedforward > 0:
            self.ffn = nn.Sequential(nn.Linear(hidden_dim, dim_feedforward), nn.ReLU(inplace=True),
                                     nn.Dropout(dropout), nn.Linear(dim_feedforward, hidden_dim))
            self.norm3 = nn.LayerNorm(hidden_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """
        Args:
            x: (N, P, d) instance features.
            tokens: (N * P, L, d) pooled features of each instance.

        Returns:
            (N, P, d).
        """
        n, p, d = x.shape
        x = self.norm1(x + self.dropout(self.self_attn(x, x, x, need_weights=False)[0]))
        x = x.reshape(n * p, d)
        x = self.norm2(x + self.dropout(self.interaction(x, tokens)))
        if self.ffn is not None:
            x = self.norm3(x + self.dropout(self.ffn(x)))
        return x.view(n, p, d)
