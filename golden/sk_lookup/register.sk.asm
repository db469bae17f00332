sk_lookup: sk_lookup - section sk_lookup (204 insns)
; prologue: the lookup into the flow record
  0: (bf) r6 = r1
  1: (7a) *(u64 *)(r10 -88) = 0
  2: (7a) *(u64 *)(r10 -80) = 0
  3: (7a) *(u64 *)(r10 -72) = 0
  4: (7a) *(u64 *)(r10 -64) = 0
  5: (7a) *(u64 *)(r10 -56) = 0
  6: (7a) *(u64 *)(r10 -48) = 0
  7: (7a) *(u64 *)(r10 -40) = 0
  8: (7a) *(u64 *)(r10 -32) = 0
  9: (7a) *(u64 *)(r10 -24) = 0
 10: (7a) *(u64 *)(r10 -16) = 0
 11: (7a) *(u64 *)(r10 -8) = 0
 12: (61) r1 = *(u32 *)(r6 +8)
 13: (15) if r1 == 0x2 goto pc+18
 14: (72) *(u8 *)(r10 -32) = 6
 15: (61) r1 = *(u32 *)(r6 +20)
 16: (63) *(u32 *)(r10 -68) = r1
 17: (61) r1 = *(u32 *)(r6 +44)
 18: (63) *(u32 *)(r10 -48) = r1
 19: (61) r1 = *(u32 *)(r6 +24)
 20: (63) *(u32 *)(r10 -64) = r1
 21: (61) r1 = *(u32 *)(r6 +48)
 22: (63) *(u32 *)(r10 -44) = r1
 23: (61) r1 = *(u32 *)(r6 +28)
 24: (63) *(u32 *)(r10 -60) = r1
 25: (61) r1 = *(u32 *)(r6 +52)
 26: (63) *(u32 *)(r10 -40) = r1
 27: (61) r1 = *(u32 *)(r6 +32)
 28: (63) *(u32 *)(r10 -56) = r1
 29: (61) r1 = *(u32 *)(r6 +56)
 30: (63) *(u32 *)(r10 -36) = r1
 31: (05) goto pc+5
 32: (72) *(u8 *)(r10 -32) = 4
 33: (61) r1 = *(u32 *)(r6 +16)
 34: (63) *(u32 *)(r10 -84) = r1
 35: (61) r1 = *(u32 *)(r6 +40)
 36: (63) *(u32 *)(r10 -76) = r1
 37: (61) r1 = *(u32 *)(r6 +12)
 38: (73) *(u8 *)(r10 -31) = r1
 39: (72) *(u8 *)(r10 -30) = 1
 40: (69) r1 = *(u16 *)(r6 +36)
 41: (dc) r1 = be16 r1
 42: (6b) *(u16 *)(r10 -28) = r1
 43: (61) r1 = *(u32 *)(r6 +60)
 44: (6b) *(u16 *)(r10 -26) = r1
; line 11: redirect 3.3.3.3:* to sock proxy
 45: (71) r1 = *(u8 *)(r10 -32)
 46: (55) if r1 != 0x4 goto pc+6
 47: (71) r1 = *(u8 *)(r10 -31)
 48: (55) if r1 != 0x6 goto pc+29
 49: (61) r1 = *(u32 *)(r10 -76)
 50: (56) if w1 != 0x3030303 goto pc+20
 51: (62) *(u32 *)(r10 -16) = 0
 52: (05) goto pc+51
; line 12: redirect [2001:db8::1]:443 to sock admin
 53: (71) r1 = *(u8 *)(r10 -31)
 54: (55) if r1 != 0x6 goto pc+32
 55: (61) r1 = *(u32 *)(r10 -48)
 56: (a4) w1 ^= -1207107296
 57: (61) r2 = *(u32 *)(r10 -44)
 58: (a4) w2 ^= 0
 59: (4c) w1 |= w2
 60: (61) r2 = *(u32 *)(r10 -40)
 61: (a4) w2 ^= 0
 62: (4c) w1 |= w2
 63: (61) r2 = *(u32 *)(r10 -36)
 64: (a4) w2 ^= 16777216
 65: (4c) w1 |= w2
 66: (56) if w1 != 0x0 goto pc+20
 67: (69) r1 = *(u16 *)(r10 -26)
 68: (55) if r1 != 0x1bb goto pc+18
 69: (62) *(u32 *)(r10 -16) = 1
 70: (05) goto pc+54
; line 13: redirect 4.4.4.0/24:9000 to sock dual
 71: (61) r1 = *(u32 *)(r10 -76)
 72: (54) w1 &= 16777215
 73: (56) if w1 != 0x40404 goto pc+13
 74: (69) r1 = *(u16 *)(r10 -26)
 75: (55) if r1 != 0x2328 goto pc+11
 76: (62) *(u32 *)(r10 -16) = 2
 77: (05) goto pc+68
; line 14: redirect 1.1.1.0/24:53 to sock dns
 78: (71) r1 = *(u8 *)(r10 -31)
 79: (55) if r1 != 0x11 goto pc+7
 80: (61) r1 = *(u32 *)(r10 -76)
 81: (54) w1 &= 16777215
 82: (56) if w1 != 0x10101 goto pc+4
 83: (69) r1 = *(u16 *)(r10 -26)
 84: (55) if r1 != 0x35 goto pc+2
 85: (62) *(u32 *)(r10 -16) = 3
 86: (05) goto pc+80
; line 15: default pass
 87: (62) *(u32 *)(r10 -16) = 4
 88: (b7) r9 = 1
 89: (18) r1 = map[counters]
 91: (bf) r2 = r10
 92: (07) r2 += -16
 93: (85) call bpf_map_lookup_elem#1
 94: (15) if r0 == 0x0 goto pc+7
 95: (79) r1 = *(u64 *)(r0 +0)
 96: (07) r1 += 1
 97: (7b) *(u64 *)(r0 +0) = r1
 98: (79) r1 = *(u64 *)(r0 +8)
 99: (61) r2 = *(u32 *)(r10 -20)
100: (0f) r1 += r2
101: (7b) *(u64 *)(r0 +8) = r1
102: (bf) r0 = r9
103: (95) exit
; redirect to socket sock0: its slot in the socket map
104: (62) *(u32 *)(r10 -12) = 0
105: (18) r1 = map[sockets]
107: (bf) r2 = r10
108: (07) r2 += -12
109: (85) call bpf_map_lookup_elem#1
110: (15) if r0 == 0x0 goto pc+12
111: (bf) r7 = r0
112: (bf) r1 = r6
113: (bf) r2 = r7
114: (b7) r3 = 0
115: (85) call bpf_sk_assign#124
116: (bf) r8 = r0
117: (bf) r1 = r7
118: (85) call bpf_sk_release#86
119: (b7) r9 = 1
120: (15) if r8 == 0x0 goto pc-32
121: (b7) r1 = 1
122: (05) goto pc+65
123: (b7) r1 = 0
124: (05) goto pc+63
; redirect to socket sock1: its slot in the socket map
125: (62) *(u32 *)(r10 -12) = 1
126: (18) r1 = map[sockets]
128: (bf) r2 = r10
129: (07) r2 += -12
130: (85) call bpf_map_lookup_elem#1
131: (15) if r0 == 0x0 goto pc+12
132: (bf) r7 = r0
133: (bf) r1 = r6
134: (bf) r2 = r7
135: (b7) r3 = 0
136: (85) call bpf_sk_assign#124
137: (bf) r8 = r0
138: (bf) r1 = r7
139: (85) call bpf_sk_release#86
140: (b7) r9 = 1
141: (15) if r8 == 0x0 goto pc-53
142: (b7) r1 = 3
143: (05) goto pc+44
144: (b7) r1 = 2
145: (05) goto pc+42
; redirect to socket sock2: its slot in the socket map
146: (62) *(u32 *)(r10 -12) = 2
147: (18) r1 = map[sockets]
149: (bf) r2 = r10
150: (07) r2 += -12
151: (85) call bpf_map_lookup_elem#1
152: (15) if r0 == 0x0 goto pc+12
153: (bf) r7 = r0
154: (bf) r1 = r6
155: (bf) r2 = r7
156: (b7) r3 = 0
157: (85) call bpf_sk_assign#124
158: (bf) r8 = r0
159: (bf) r1 = r7
160: (85) call bpf_sk_release#86
161: (b7) r9 = 1
162: (15) if r8 == 0x0 goto pc-74
163: (b7) r1 = 5
164: (05) goto pc+23
165: (b7) r1 = 4
166: (05) goto pc+21
; redirect to socket sock3: its slot in the socket map
167: (62) *(u32 *)(r10 -12) = 3
168: (18) r1 = map[sockets]
170: (bf) r2 = r10
171: (07) r2 += -12
172: (85) call bpf_map_lookup_elem#1
173: (15) if r0 == 0x0 goto pc+12
174: (bf) r7 = r0
175: (bf) r1 = r6
176: (bf) r2 = r7
177: (b7) r3 = 0
178: (85) call bpf_sk_assign#124
179: (bf) r8 = r0
180: (bf) r1 = r7
181: (85) call bpf_sk_release#86
182: (b7) r9 = 1
183: (15) if r8 == 0x0 goto pc-95
184: (b7) r1 = 7
185: (05) goto pc+2
186: (b7) r1 = 6
187: (05) goto pc+0
; redirect dropped: count it for the socket
188: (63) *(u32 *)(r10 -12) = r1
189: (18) r1 = map[socket_drops]
191: (bf) r2 = r10
192: (07) r2 += -12
193: (85) call bpf_map_lookup_elem#1
194: (15) if r0 == 0x0 goto pc+7
195: (79) r1 = *(u64 *)(r0 +0)
196: (07) r1 += 1
197: (7b) *(u64 *)(r0 +0) = r1
198: (79) r1 = *(u64 *)(r0 +8)
199: (61) r2 = *(u32 *)(r10 -20)
200: (0f) r1 += r2
201: (7b) *(u64 *)(r0 +8) = r1
202: (b7) r9 = 0
203: (05) goto pc-115

sklreg_proxy_se: sk_lookup register /sys/fs/cgroup/unified/proxy.service section sockops (97 insns)
; sk_lookup register: a socket of cgroup /sys/fs/cgroup/unified/proxy.service listening on a declared address goes into its slot
  0: (bf) r6 = r1
  1: (61) r1 = *(u32 *)(r6 +0)
  2: (15) if r1 == 0xb goto pc+2
  3: (b7) r0 = 1
  4: (95) exit
; the install's network namespace only
  5: (bf) r1 = r6
  6: (85) call bpf_get_netns_cookie#122
  7: (56) if w0 != 0x0 goto pc+3
  8: (77) r0 >>= 32
  9: (56) if w0 != 0x0 goto pc+1
 10: (05) goto pc+2
 11: (b7) r0 = 1
 12: (95) exit
 13: (61) r7 = *(u32 *)(r6 +20)
 14: (61) r8 = *(u32 *)(r6 +68)
; socket proxy: tcp 127.0.0.1:8080
 15: (55) if r8 != 0x1f90 goto pc+41
 16: (55) if r7 != 0x2 goto pc+3
 17: (61) r1 = *(u32 *)(r6 +28)
 18: (56) if w1 != 0x100007f goto pc+38
 19: (05) goto pc+9
 20: (55) if r7 != 0xa goto pc+36
 21: (61) r1 = *(u32 *)(r6 +48)
 22: (56) if w1 != 0x0 goto pc+34
 23: (61) r1 = *(u32 *)(r6 +52)
 24: (56) if w1 != 0x0 goto pc+32
 25: (61) r1 = *(u32 *)(r6 +56)
 26: (56) if w1 != 0xffff0000 goto pc+30
 27: (61) r1 = *(u32 *)(r6 +60)
 28: (56) if w1 != 0x100007f goto pc+28
 29: (62) *(u32 *)(r10 -12) = 0
 30: (bf) r1 = r6
 31: (18) r2 = map[sockets]
 33: (bf) r3 = r10
 34: (07) r3 += -12
 35: (b7) r4 = 0
 36: (85) call bpf_sock_map_update#53
 37: (62) *(u32 *)(r10 -20) = 0
 38: (55) if r0 != 0x0 goto pc+2
 39: (62) *(u32 *)(r10 -16) = 5
 40: (05) goto pc+1
 41: (62) *(u32 *)(r10 -16) = 6
 42: (18) r1 = map[counters]
 44: (bf) r2 = r10
 45: (07) r2 += -16
 46: (85) call bpf_map_lookup_elem#1
 47: (15) if r0 == 0x0 goto pc+7
 48: (79) r1 = *(u64 *)(r0 +0)
 49: (07) r1 += 1
 50: (7b) *(u64 *)(r0 +0) = r1
 51: (79) r1 = *(u64 *)(r0 +8)
 52: (61) r2 = *(u32 *)(r10 -20)
 53: (0f) r1 += r2
 54: (7b) *(u64 *)(r0 +8) = r1
 55: (b7) r0 = 1
 56: (95) exit
; socket admin: tcp ::1:8443
 57: (55) if r8 != 0x20fb goto pc+37
 58: (55) if r7 != 0xa goto pc+36
 59: (61) r1 = *(u32 *)(r6 +48)
 60: (56) if w1 != 0x0 goto pc+34
 61: (61) r1 = *(u32 *)(r6 +52)
 62: (56) if w1 != 0x0 goto pc+32
 63: (61) r1 = *(u32 *)(r6 +56)
 64: (56) if w1 != 0x0 goto pc+30
 65: (61) r1 = *(u32 *)(r6 +60)
 66: (56) if w1 != 0x1000000 goto pc+28
 67: (62) *(u32 *)(r10 -12) = 1
 68: (bf) r1 = r6
 69: (18) r2 = map[sockets]
 71: (bf) r3 = r10
 72: (07) r3 += -12
 73: (b7) r4 = 0
 74: (85) call bpf_sock_map_update#53
 75: (62) *(u32 *)(r10 -20) = 0
 76: (55) if r0 != 0x0 goto pc+2
 77: (62) *(u32 *)(r10 -16) = 5
 78: (05) goto pc+1
 79: (62) *(u32 *)(r10 -16) = 6
 80: (18) r1 = map[counters]
 82: (bf) r2 = r10
 83: (07) r2 += -16
 84: (85) call bpf_map_lookup_elem#1
 85: (15) if r0 == 0x0 goto pc+7
 86: (79) r1 = *(u64 *)(r0 +0)
 87: (07) r1 += 1
 88: (7b) *(u64 *)(r0 +0) = r1
 89: (79) r1 = *(u64 *)(r0 +8)
 90: (61) r2 = *(u32 *)(r10 -20)
 91: (0f) r1 += r2
 92: (7b) *(u64 *)(r0 +8) = r1
 93: (b7) r0 = 1
 94: (95) exit
 95: (b7) r0 = 1
 96: (95) exit

sklreg_dual_ser: sk_lookup register /sys/fs/cgroup/unified/dual.service section sockops (55 insns)
; sk_lookup register: a socket of cgroup /sys/fs/cgroup/unified/dual.service listening on a declared address goes into its slot
  0: (bf) r6 = r1
  1: (61) r1 = *(u32 *)(r6 +0)
  2: (15) if r1 == 0xb goto pc+2
  3: (b7) r0 = 1
  4: (95) exit
; the install's network namespace only
  5: (bf) r1 = r6
  6: (85) call bpf_get_netns_cookie#122
  7: (56) if w0 != 0x0 goto pc+3
  8: (77) r0 >>= 32
  9: (56) if w0 != 0x0 goto pc+1
 10: (05) goto pc+2
 11: (b7) r0 = 1
 12: (95) exit
 13: (61) r7 = *(u32 *)(r6 +20)
 14: (61) r8 = *(u32 *)(r6 +68)
; socket dual: tcp :::9000
 15: (55) if r8 != 0x2328 goto pc+37
 16: (55) if r7 != 0xa goto pc+36
 17: (61) r1 = *(u32 *)(r6 +48)
 18: (56) if w1 != 0x0 goto pc+34
 19: (61) r1 = *(u32 *)(r6 +52)
 20: (56) if w1 != 0x0 goto pc+32
 21: (61) r1 = *(u32 *)(r6 +56)
 22: (56) if w1 != 0x0 goto pc+30
 23: (61) r1 = *(u32 *)(r6 +60)
 24: (56) if w1 != 0x0 goto pc+28
 25: (62) *(u32 *)(r10 -12) = 2
 26: (bf) r1 = r6
 27: (18) r2 = map[sockets]
 29: (bf) r3 = r10
 30: (07) r3 += -12
 31: (b7) r4 = 0
 32: (85) call bpf_sock_map_update#53
 33: (62) *(u32 *)(r10 -20) = 0
 34: (55) if r0 != 0x0 goto pc+2
 35: (62) *(u32 *)(r10 -16) = 7
 36: (05) goto pc+1
 37: (62) *(u32 *)(r10 -16) = 8
 38: (18) r1 = map[counters]
 40: (bf) r2 = r10
 41: (07) r2 += -16
 42: (85) call bpf_map_lookup_elem#1
 43: (15) if r0 == 0x0 goto pc+7
 44: (79) r1 = *(u64 *)(r0 +0)
 45: (07) r1 += 1
 46: (7b) *(u64 *)(r0 +0) = r1
 47: (79) r1 = *(u64 *)(r0 +8)
 48: (61) r2 = *(u32 *)(r10 -20)
 49: (0f) r1 += r2
 50: (7b) *(u64 *)(r0 +8) = r1
 51: (b7) r0 = 1
 52: (95) exit
 53: (b7) r0 = 1
 54: (95) exit

